-- eldwyn-xmpp (tasks/prosody_modules.py): Prosody's own encodings library under the name
-- Debian's security update 13.0.1-1+deb131u2 (2026-12-01, advisory 2026_8112eaa9) asks for.
-- Its patched mod_legacyauth does `require "prosody.encodings"`, a module no Prosody has (the
-- library is prosody.util.encodings, which every other module requires), so the module fails
-- to load and bots that log in with XEP-0078 are refused. Only that missing name is supplied
-- here: nothing Debian ships is replaced, and once Debian fixes the require this file is unused.
return require "prosody.util.encodings";
