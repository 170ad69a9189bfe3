-- Text is read only as far as the 77-token context needs: any length up to
-- Postgres's 1 GB returns what the text's prefix returns, at a bounded cost
-- (bench/long_text.sh measures time, memory and cancel latency).
-- 130 MB of a caption repeated: the same vector as its first 30 repetitions.
SELECT clip_embed_text(repeat('a red circle ', 10000000)) = clip_embed_text(repeat('a red circle ', 30)) AS same_as_prefix;
-- 50 MB in one word: the first 64 KiB of the run give its 75 tokens.
SELECT clip_embed_text(repeat('x', 50000000)) = clip_embed_text(repeat('x', 70000)) AS long_word;
-- 100 MB of spaces before the caption: skipped, not tokenized.
SELECT clip_embed_text(repeat(' ', 100000000) || 'a red circle') = clip_embed_text('a red circle') AS leading_spaces;
-- Only whitespace and characters ftfy deletes: empty, however long.
SELECT regress_error($$SELECT clip_embed_text(repeat(E' \t\n' || chr(65279), 10000000))$$);
-- ftfy unescapes HTML a line at a time, to a fixed point, and not from the
-- first line holding '<' on; OpenAI's own two html.unescape calls still run.
-- So '&amp;amp;amp;' becomes '&' before such a line, and '&amp;' (the tokens
-- '&', 'amp', ';') after it.
SELECT clip_embed_text(E'&amp;amp;amp; cat\n<b>') = clip_embed_text(E'& cat\n<b>') AS fixed_point_before_bracket,
       clip_embed_text(E'<b>\n&amp;amp;amp; cat') = clip_embed_text(E'<b>\n& amp ; cat') AS two_unescapes_after_bracket;
