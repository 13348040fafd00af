-- mod_register_lookalike_names: a new account may not look like an existing one. Shipped by
-- eldwyn-xmpp.
--
-- "аlice" with a Cyrillic а, "a1ice" or "alicе" would pass for alice@ in a roster or a room,
-- and Prosody (nodeprep) sees different names. The sign-up service already refuses names that
-- look like a reserved one, but it cannot see the accounts that exist; this module can. In
-- "user-registering" (fired by mod_register_ibr, so for XMPP clients and the site alike) it
-- compares the new name's skeleton (eldwyn_lookalikes.lib.lua, generated from the sign-up
-- service's own validation.skeleton) with every existing account's, and refuses a match with
-- modify/not-acceptable (the site shows "The server refuses this username").
--
-- Priority 50: after mod_invites_register_strict's checks (+100: a bad invite is refused
-- first, and a taken name is a conflict there), before the throttle and the invite's commit
-- (0, -100): a refused look-alike neither counts nor spends the invite. A password reset names
-- an existing account, which is left to the strict module. The accounts are read at each
-- registration: fine for a lab's few thousand; a cache would have to follow deletions too.
--
-- Config: load it on the VirtualHost (modules_enabled). It has no options.

local usermanager = require "prosody.core.usermanager";
local st_error = require "prosody.util.error";

if prosody.process_type ~= "prosody" then
	return; -- prosodyctl: nothing to do
end

local lookalikes = module:require("eldwyn_lookalikes");

local looks_alike = {
	type = "modify"; condition = "not-acceptable";
	text = "This username looks like an existing account's: choose another one";
};

module:hook("user-registering", function (event)
	local username = event.username;
	if not username or usermanager.user_exists(username, module.host) then
		return; -- a reset, or a conflict the strict module answers
	end
	local wanted = lookalikes.skeleton(username);
	for existing in usermanager.users(module.host) do
		if lookalikes.skeleton(existing) == wanted then
			local err = st_error.new(looks_alike);
			event.allowed = false;
			event.error = err;
			event.reason, event.error_type, event.error_condition = err.text, err.type, err.condition;
			local log = event.session and event.session.log or module._log;
			log("info", "Registration of %q refused: it looks like an existing account", username);
			return true;
		end
	end
end, 50);
