-- Shared by every file: the extensions and a few small images (24x16 PNGs:
-- a shape on white), inlined so the tests read no server files.
CREATE EXTENSION IF NOT EXISTS vector;
CREATE EXTENSION IF NOT EXISTS clip_embed;
CREATE TABLE regress_images (name text PRIMARY KEY, data bytea NOT NULL);
INSERT INTO regress_images VALUES
  ('red circle',    decode('iVBORw0KGgoAAAANSUhEUgAAABgAAAAQCAIAAACDRijCAAAAWklEQVR42mP8//8/AzUAEwOVAAseubuioshc5dev8ShmxOo1NCOIMY6JJFPwyDKRZAoeNUykmoJLJdVibaQYhD/J4VfJRGR6I6iGifi0i1+WEU/up0JeIwMAAE3YJxPjB0RfAAAAAElFTkSuQmCC', 'base64')),
  ('blue square',   decode('iVBORw0KGgoAAAANSUhEUgAAABgAAAAQCAIAAACDRijCAAAALklEQVR42mP8//8/AzUAEwOVAAsyR1T0LvE6X79WpomLRg0aNWjUILyAkVrFCAA+hQkbqq1pYgAAAABJRU5ErkJggg==', 'base64')),
  ('green circle',  decode('iVBORw0KGgoAAAANSUhEUgAAABgAAAAQCAIAAACDRijCAAAAWklEQVR42mP8//8/AzUAEwOVAAseOdGtosjc196v8ShmxOo1NCOIMY6JJFPwyDKRZAoeNUykmoJLJdVibaQYhD/J4VfJRGR6I6iGifi0i1+WEU/up0JeIwMAAGXCJxNk9AYdAAAAAElFTkSuQmCC', 'base64')),
  ('red square',    decode('iVBORw0KGgoAAAANSUhEUgAAABgAAAAQCAIAAACDRijCAAAALklEQVR42mP8//8/AzUAEwOVAAsy566oKPE6lV+/pomLRg0aNWjUILyAkVrFCAA+hQkb12DlTwAAAABJRU5ErkJggg==', 'base64')),
  ('yellow circle', decode('iVBORw0KGgoAAAANSUhEUgAAABgAAAAQCAIAAACDRijCAAAAWklEQVR42mP8//8/AzUAEwOVAAseuecnRZG5kuav8ShmxOo1NCOIMY6JJFPwyDKRZAoeNUykmoJLJdVibaQYhD/J4VfJRGR6I6iGifi0i1+WEU/up0JeIwMAAFw5JxNEJ9hQAAAAAElFTkSuQmCC', 'base64')),
  ('blue circle',   decode('iVBORw0KGgoAAAANSUhEUgAAABgAAAAQCAIAAACDRijCAAAAWklEQVR42mP8//8/AzUAEwOVAAseOVHRu8jc16+V8ShmxOo1NCOIMY6JJFPwyDKRZAoeNUykmoJLJdVibaQYhD/J4VfJRGR6I6iGifi0i1+WEU/up0JeIwMAAE3YJxM3kfc8AAAAAElFTkSuQmCC', 'base64'));
-- Runs a statement and reports its SQLSTATE and message, so expected output
-- pins the error code, not only the text. The model directory, which differs
-- between machines, reads as $model_dir.
CREATE FUNCTION regress_error(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE statement;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  RETURN replace(SQLSTATE || ': ' || SQLERRM, coalesce(current_setting('clip_embed.model_dir', true), ''), '$model_dir');
END $$;
-- L2 norm of a real[], rounded for stable output.
CREATE FUNCTION regress_norm(v real[]) RETURNS numeric LANGUAGE sql IMMUTABLE AS
  $$ SELECT round(sqrt(sum(x::float8 * x))::numeric, 4) FROM unnest(v) x $$;
-- EXPLAIN (COSTS OFF) of a query, with vector constants elided: their digits
-- depend on the CPU's floating point, the plan's shape does not.
CREATE FUNCTION regress_plan(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
    RETURN NEXT regexp_replace(line, '''\[[^]]*\]''', '''[...]''', 'g');
  END LOOP;
END $$;
