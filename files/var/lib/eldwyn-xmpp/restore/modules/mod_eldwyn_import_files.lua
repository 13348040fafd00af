-- mod_eldwyn_import_files: copies what hosts keep in Prosody's file storage ("internal", under
-- the data directory) into the storage the configuration gives them (SQL on Eldwyn), through
-- Prosody's own storage drivers, so every store keeps its users, keys, item ids, timestamps and
-- "with" fields exactly. Written for the take-over of the hand-built Eldwyn, whose components
-- (rooms, upload records, pubsub) kept file storage beside the realm's SQLite store.
--
--     prosodyctl --config IMPORT.cfg.lua mod_eldwyn_import_files HOST...
--
-- Run it with Prosody stopped. Unlike prosody-migrator, it also carries host-level data (the
-- nil user: mod_muc's list of persistent rooms, mod_http_file_share's upload records, pubsub's
-- items), which prosody-migrator skips for archives. It never overwrites: if the target holds
-- anything for a store and user it would write, it stops before writing anything and exits 1.
-- The files are left as they are. Prints one line per store with what it copied.

local lfs = require "lfs";
local storagemanager = require "prosody.core.storagemanager";

local EXTENSIONS = { dat = "keyval", list = "archive" }; -- util.datamanager's file types

-- util.datamanager's encoding of host and user names in paths: %xx for every non-alphanumeric.
local function encode(s) return (s:gsub("%W", function (c) return ("%%%02x"):format(c:byte()); end)); end
local function decode(s) return (s:gsub("%%(%x%x)", function (c) return string.char(tonumber(c, 16)); end)); end

-- Every (store, kind, user) found for ``host`` in file storage; user is nil for host-level data.
local function find_items(host)
	local found = {};
	local host_dir = prosody.paths.data .. "/" .. encode(host);
	if lfs.attributes(host_dir, "mode") ~= "directory" then return found; end
	for node in lfs.dir(host_dir) do
		local path = host_dir .. "/" .. node;
		local mode = node:sub(1, 1) ~= "." and lfs.attributes(path, "mode");
		if mode == "directory" then -- a store with data per user
			for file in lfs.dir(path) do
				local name, ext = file:match("^(.+)%.(%a+)$");
				if name and EXTENSIONS[ext] then
					table.insert(found, { store = decode(node), kind = EXTENSIONS[ext], user = decode(name) });
				end
			end
		elseif mode == "file" then -- host-level data
			local name, ext = node:match("^(.+)%.(%a+)$");
			if name and EXTENSIONS[ext] then
				table.insert(found, { store = decode(name), kind = EXTENSIONS[ext], user = nil });
			end
		end
	end
	table.sort(found, function (a, b)
		return a.store .. "\0" .. a.kind .. "\0" .. (a.user or "") < b.store .. "\0" .. b.kind .. "\0" .. (b.user or "");
	end);
	return found;
end

-- Whether the target already holds data for this store and user.
local function occupied(target, item)
	local store = assert(target:open(item.store, item.kind));
	if item.kind == "keyval" then
		return store:get(item.user) ~= nil;
	end
	local iter = store:find(item.user, { limit = 1 });
	return iter ~= nil and iter() ~= nil;
end

local function copy(source, target, item)
	local from = assert(source:open(item.store, item.kind));
	local to = assert(target:open(item.store, item.kind));
	if item.kind == "keyval" then
		local data, err = from:get(item.user);
		assert(data ~= nil or not err, err);
		if data == nil then return 0; end
		assert(to:set(item.user, data));
		return 1;
	end
	local count = 0;
	local iter = assert(from:find(item.user));
	for id, stanza, when, with in iter do
		assert(to:append(item.user, id, stanza, when, with));
		count = count + 1;
	end
	return count;
end

local function drivers(host)
	-- prosodyctl makes only dummy hosts: storage drivers register through the host's events.
	storagemanager.initialize_host(host);
	local source = storagemanager.load_driver(host, "internal");
	local target, target_name = storagemanager.get_driver(host);
	if not source then return nil, "cannot load Prosody's file storage driver for " .. host; end
	if not target or target_name == "internal" or target_name == "null" then
		return nil, host .. ": the configuration gives it no storage to import into (storage = " .. tostring(target_name) .. ")";
	end
	return source, target;
end

function module.command(arg)
	if #arg == 0 then
		print("usage: prosodyctl mod_eldwyn_import_files HOST...");
		return 1;
	end
	local plan = {};
	for _, host in ipairs(arg) do
		if not prosody.hosts[host] then
			print(host .. ": not a host of this configuration");
			return 1;
		end
		local source, target = drivers(host);
		if not source then print(target); return 1; end
		for _, item in ipairs(find_items(host)) do
			if occupied(target, item) then
				print(("%s: the %s store %q of %s holds data already: nothing was imported"):format(
					host, item.kind, item.store, item.user or "the host"));
				return 1;
			end
			table.insert(plan, { host = host, item = item, source = source, target = target });
		end
	end
	local totals = {};
	for _, step in ipairs(plan) do
		local key = step.host .. " " .. step.item.kind .. " " .. step.item.store;
		totals[key] = (totals[key] or 0) + copy(step.source, step.target, step.item);
	end
	local keys = {};
	for key in pairs(totals) do table.insert(keys, key); end
	table.sort(keys);
	for _, key in ipairs(keys) do print(("imported %s: %d"):format(key, totals[key])); end
	print(("imported %d stores of %d hosts"):format(#keys, #arg));
	return 0;
end
