-- The extension is installed by the harness (--load-extension=engram).
SELECT extname, extversion, extrelocatable FROM pg_extension WHERE extname = 'engram';
-- Every setting lives under the reserved engram prefix.
SET engram.no_such_setting = 1;
