-- mod_invites_register_strict: one invite, at most one account. Shipped by eldwyn-xmpp.
--
-- Prosody 13.0.1's mod_invites_register checks an invite once, when a client sends
-- <preauth xmlns="urn:xmpp:pars:0" token="..."/>, keeps it on the session, and trusts it for
-- every registration on that stream. Observed consequences (shared/notes/prosody13-facts.md):
--   * one single-use token creates any number of accounts on the same stream, and two streams
--     that pre-authenticate with the same token before either registers both succeed;
--   * a token that expires after the preauth still registers;
--   * an invite made for one username ("invite create_account alice@realm") registers any name;
--   * a password-reset invite ("invite create_reset alice@realm") creates brand-new accounts;
--   * "reusable" (group) invites register without limit.
-- This module closes all of that in the "user-registering" event, which mod_register_ibr (XMPP
-- in-band registration) and the web registration modules fire before creating an account:
--
--   priority +100  check: a valid invite from THIS moment's store, the username it allows, and
--                  not already spent on this stream. A refusal stops the event there, so a
--                  refused attempt is not counted by mod_register_limits' per-address throttle.
--   priority 0     mod_invites_register, mod_register_limits (throttle, block/allow lists).
--   priority -100  commit: if nobody refused, claim the token in memory and delete it from the
--                  store *before* the account exists. Prosody handles a stanza without yielding
--                  from here to the account's creation, and the in-memory claim covers storage
--                  that would yield. If the account then cannot be written (disk error), the
--                  invite is lost: failing closed, the admin makes a new one.
--
-- It also fails closed on its own: without a validated invite, registration is refused even if
-- registration_invite_only were false or mod_invites_register were missing (it is loaded here
-- as a dependency anyway, together with mod_invites).
--
-- Config: load it on the VirtualHost (modules_enabled), next to allow_registration = true and
-- registration_invite_only = true. It has no options.

local st_error = require "prosody.util.error";
local jid_split = require "prosody.util.jid".split;
local nodeprep = require "prosody.util.encodings".stringprep.nodeprep;
local usermanager = require "prosody.core.usermanager";
local new_cache = require "prosody.util.cache".new;

if prosody.process_type ~= "prosody" then
	return; -- prosodyctl: nothing to do
end

local invites = module:depends("invites");
module:depends("invites_register"); -- the preauth handler; fails closed without it anyway

if not module:get_option_boolean("registration_invite_only", true) then
	module:log("warn", "registration_invite_only = false is ignored: this module refuses every"
		.." registration without a valid invite");
end

-- Tokens already committed by this process (bounded: a token is 96 random bits, never reused).
local claimed = new_cache(10000);

local err_registry = {
	no_invite = { type = "cancel"; condition = "not-acceptable";
		text = "Registration on this server is through invitation only" };
	invalid_invite = { type = "auth"; condition = "forbidden";
		text = "The invite token is invalid, expired or already used" };
	spent = { type = "auth"; condition = "forbidden";
		text = "This stream has already used its invite" };
	wrong_username = { type = "modify"; condition = "not-acceptable";
		text = "This invite is for another username" };
	reset_only = { type = "auth"; condition = "forbidden";
		text = "A password reset invite cannot create an account" };
	reset_disabled = { type = "auth"; condition = "forbidden";
		text = "This account is disabled: an administrator must enable it first" };
	taken = { type = "cancel"; condition = "conflict";
		text = "The requested username already exists." };
};

local function refuse(event, kind)
	local err = st_error.new(kind, event, err_registry);
	event.allowed = false;
	event.error = err;
	-- COMPAT: mod_register_ibr falls back to these when there is no event.error.
	event.reason, event.error_type, event.error_condition = err.text, err.type, err.condition;
	local log = event.session and event.session.log or module._log;
	log("info", "Registration of %q refused: %s", tostring(event.username), err.text);
	return true; -- stop the event: later handlers (throttle counting included) do not run
end

-- The invite this registration claims: set by the preauth (XMPP) or by a web module.
local function presented_invite(event)
	return event.validated_invite or (event.session and event.session.validated_invite);
end

module:hook("user-registering", function (event)
	local session = event.session;
	if session and session.invite_register_strict_spent then
		return refuse(event, "spent");
	end
	local presented = presented_invite(event);
	if not (presented and presented.token) then
		return refuse(event, "no_invite");
	end
	-- Re-read the invite now: used, deleted or expired since the preauth means refused.
	local info = invites.get_account_invite_info(presented.token);
	if not info then
		return refuse(event, "invalid_invite");
	end
	local username = event.username;
	local reset_for = info.additional_data and info.additional_data.allow_reset;
	if reset_for then
		-- A reset invite may only set a new password on the one existing account it names.
		if username ~= reset_for then
			return refuse(event, "wrong_username");
		end
		if not usermanager.user_exists(username, module.host) then
			return refuse(event, "reset_only");
		end
		-- mod_register_ibr resets through create_user, which would write a fresh record without
		-- the "disabled" flag: a reset link must not bring back an account an admin disabled.
		if usermanager.user_is_enabled and not usermanager.user_is_enabled(username, module.host) then
			return refuse(event, "reset_disabled");
		end
		return; -- mod_register_ibr resets the password (event.allow_reset, set by invites_register)
	end
	if info.type == "register" then
		local invited = jid_split(info.jid); -- "alice@realm" for a named invite, nil for any name
		if invited and nodeprep(invited) ~= username then
			return refuse(event, "wrong_username");
		end
	end -- "roster" invites with allow_registration: the invitee picks any name, as designed
	-- Refuse a taken name here, before the commit below, so that it does not burn the invite.
	if usermanager.user_exists(username, module.host) then
		return refuse(event, "taken");
	end
end, 100);

module:hook("user-registering", function (event)
	if not event.allowed then
		return; -- refused at priority 0 (throttle, block list): the invite stays usable
	end
	local presented = presented_invite(event);
	local token = presented and presented.token;
	if not token or claimed:get(token) then
		-- Unreachable unless storage yielded between two streams' checks.
		return refuse(event, token and "invalid_invite" or "no_invite");
	end
	claimed:set(token, true);
	if event.session then
		event.session.invite_register_strict_spent = true; -- one registration per stream
	end
	-- Delete even "reusable" invites: one invite, one account. invites_register's own
	-- :use() after the registration finds nothing left to delete, and still applies the
	-- invite's roles from the copy the event carries.
	local ok, err = invites.delete_account_invite(token);
	if not ok then
		module:log("error", "Could not delete used invite: %s", tostring(err));
		return refuse(event, "invalid_invite");
	end
	module:log("info", "Invite committed for the registration of %s@%s", event.username, module.host);
end, -100);

-- After mod_invites_register (priority 0) has applied the invite's roles and contacts, drop the
-- invite from the stream, so nothing later can mistake it for a fresh one.
local function forget_invite(event)
	if event.session then
		event.session.validated_invite = nil;
	end
end
module:hook("user-registered", forget_invite, -100);
module:hook("user-password-reset", forget_invite, -100);

-- A reset sets the password without Prosody's "user-password-changed" event (mod_register_ibr
-- calls create_user), so whoever was logged in with the old password (perhaps the reason for the
-- reset) would stay logged in. Fire it, as a password change does: mod_c2s then closes every
-- session of the account (the resetting stream is not logged in, so it names no resource).
module:hook("user-password-reset", function (event)
	prosody.events.fire_event("user-password-changed", { username = event.username, host = module.host });
end, -200);
