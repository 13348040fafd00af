-- mod_invites_register_form: tell the client which account a pre-authenticated invite is for.
-- Shipped by eldwyn-xmpp.
--
-- Prosody 13.0.1's mod_register_ibr answers every XEP-0077 form request (<iq type="get"><query
-- xmlns="jabber:iq:register"/></iq>) with the same empty form, whatever invite the stream
-- pre-authenticated with (<preauth xmlns="urn:xmpp:pars:0" token="..."/>, mod_invites_register).
-- Yet two kinds of invite are for one account only (mod_invites; mod_invites_register_strict
-- refuses any other name):
--   * "invite create_account alice@realm": type "register", jid "alice@realm": only the new
--     account "alice" may be registered with it;
--   * "invite create_reset alice@realm": additional_data.allow_reset = "alice": it only sets a
--     new password on the existing account "alice" (mod_register_ibr resets it when the
--     registration's username equals allow_reset).
-- Their links are the same (invites_page, /join/TOKEN), so a client such as Eldwyn's sign-up
-- site cannot tell from the link what the invite is for, and must not trust the link for it.
-- This module answers the form request on such a stream, before mod_register_ibr (priority 10
-- against its 0):
--
--   named invite  <username>alice</username><password/>, and the same in a data form;
--   reset invite  <registered/><username>alice</username><password/> (XEP-0077 3.2.1: the
--                 account exists), or forbidden if the account does not exist (such an invite
--                 can never be used: mod_invites_register_strict refuses it).
--
-- Anything else (no preauth, an invite for any name, a type="set", a stream without TLS, an
-- authenticated session) is left to mod_register_ibr, unchanged. The invite is read from the
-- store at the moment of the request (the copy the preauth keeps on the session has no jid);
-- an invite gone since the preauth is left to mod_register_ibr too. Nothing is used up or
-- changed: the registration itself is still judged by mod_invites_register_strict. Eldwyn sets
-- no additional_registration_fields, so the form holds the username and the password only.
--
-- Config: load it on the VirtualHost (modules_enabled), next to invites_register_strict. It has
-- no options.

local st = require "prosody.util.stanza";
local dataforms = require "prosody.util.dataforms";
local jid_split = require "prosody.util.jid".split;
local nodeprep = require "prosody.util.encodings".stringprep.nodeprep;
local usermanager = require "prosody.core.usermanager";

if prosody.process_type ~= "prosody" then
	return; -- prosodyctl: nothing to do
end

local invites = module:depends("invites");
module:depends("invites_register"); -- the preauth handler that sets session.validated_invite

local xmlns_register = "jabber:iq:register";

local form_layout = dataforms.new {
	title = "Creating a new account";
	instructions = "The invitation is for this username only.";
	{ name = "FORM_TYPE", type = "hidden", value = xmlns_register };
	{ name = "username", type = "text-single", label = "Username", required = true };
	{ name = "password", type = "text-private", label = "Password", required = true };
};

-- The one account the stream's invite is for: (username, is_reset), or nil for any other case.
local function invited_account(session)
	local presented = session.validated_invite;
	local info = presented and presented.token and invites.get_account_invite_info(presented.token);
	if not info then
		return nil;
	end
	local reset_for = info.additional_data and info.additional_data.allow_reset;
	if reset_for ~= nil then
		return type(reset_for) == "string" and reset_for or nil, true;
	end
	if info.type == "register" and type(info.jid) == "string" then
		local node = jid_split(info.jid); -- nil for an invite for any name (jid is the host)
		local username = node and nodeprep(node);
		if username and username ~= "" then
			return username, false;
		end
	end
	return nil;
end

module:hook("stanza/iq/jabber:iq:register:query", function (event)
	local session, stanza = event.origin, event.stanza;
	if stanza.attr.type ~= "get" or session.type ~= "c2s_unauthed" or not session.secure then
		return; -- mod_register_ibr's
	end
	local username, reset = invited_account(session);
	if not username then
		return; -- no invite, or one for any name: mod_register_ibr's usual form
	end
	if reset then
		if nodeprep(username) ~= username or not usermanager.user_exists(username, module.host) then
			session.send(st.error_reply(stanza, "auth", "forbidden",
				"This password reset invite is for an account that does not exist"));
			return true;
		end
		session.send(st.reply(stanza):tag("query", { xmlns = xmlns_register })
			:tag("instructions"):text("Choose a new password for this account."):up()
			:tag("registered"):up()
			:tag("username"):text(username):up()
			:tag("password"):up());
		return true;
	end
	session.send(st.reply(stanza):tag("query", { xmlns = xmlns_register })
		:tag("instructions"):text("The invitation is for this username only."):up()
		:tag("username"):text(username):up()
		:tag("password"):up()
		:add_child(form_layout:form({ username = username })));
	return true;
end, 10);
