-- mod_eldwyn_import_files: import the data that hosts keep in Prosody's file storage
-- ("internal", the files under the data directory) into the storage the configuration gives
-- them (SQL on Eldwyn). Written for eldwyn-xmpp's take-over of the hand-built Prosody 0.12
-- server, whose components (MUC rooms, pubsub, HTTP upload records) kept file storage while the
-- realm used SQLite.
--
-- Usage, as root and with Prosody STOPPED (prosodyctl switches to the prosody user itself):
--
--     prosodyctl [--config FILE] mod_eldwyn_import_files HOST...
--
-- For every HOST it copies every store found in the host's directory,
-- <data_path>/<host, %-escaped>/:
--
--     <store>.dat            keyval data of the host itself (user nil), e.g. mod_muc's
--                            "persistent" (the list of persistent rooms)
--     <store>.list           archive of the host itself (user nil), e.g. mod_http_file_share's
--                            "uploads" (one record per uploaded file), pubsub's "pubsub_<node>"
--     <store>/<user>.dat     keyval data per user (for a MUC: per room, e.g. "config")
--     <store>/<user>.list    archive per user (for a MUC: per room, "muc_log")
--
-- through Prosody's own storage drivers (mod_storage_internal to read, the configured driver to
-- write), so keys, archive item ids, timestamps ("when") and "with" stay as they were. Other
-- files (uploaded file blobs <store>/<slot>.bin, list indexes .lidx, editor or temp files) are
-- not stores: they are left alone and only counted in the report. Nothing is deleted or changed
-- in the file storage.
--
-- Safety rules:
--   * all-or-nothing checks first: if the target already holds ANY data in one of the stores to
--     import for that host (any user, the host itself included), nothing is written at all, the
--     store is named, and the command exits 1;
--   * everything is read from the files before the first write, so an unreadable file also
--     stops the import before it writes anything;
--   * after writing, every store is read back from the target and compared (users, item counts
--     and ids); any difference or error exits 1;
--   * if the configuration names a pidfile and Prosody holds it, the command refuses to run.
-- Exit status: 0 when everything was imported and verified, 1 otherwise.

local lfs = require "lfs";
local storagemanager = require "prosody.core.storagemanager";
local configmanager = require "prosody.core.configmanager";

-- The files util.datamanager writes, by extension, and the store type each one holds.
local STORE_TYPES = { dat = "keyval", list = "archive" };

-- util.datamanager escapes every byte of host and user names, and every byte of store names
-- except "_", as %xx (lowercase hex). Decoding %xx is enough to get the names back.
local function decode(s)
	return (s:gsub("%%(%x%x)", function (hex) return string.char(tonumber(hex, 16)); end));
end
local function encode_host(s)
	return (s:gsub("%W", function (c) return ("%%%02x"):format(c:byte()); end));
end

-- A label for a user in messages: the host's own data has user nil.
local function who(user) return user == nil and "(host)" or user; end

-- Raise an error whose message is shown as is (no position prefix).
local function fail(fmt, ...) error(fmt:format(...), 0); end

-- Walks the host's directory. Returns the stores found, as a list of
-- { store = name, type = "keyval"|"archive", users = { user1, user2, ... } } where the host's
-- own data is listed with user == false (Lua lists cannot hold nil), and the number of other
-- files left alone, by directory.
local function scan_host(data_path, host)
	local host_dir = data_path .. "/" .. encode_host(host);
	local by_key, stores, others = {}, {}, {};
	local function add(store, typ, user)
		local key = typ .. "\0" .. store;
		local entry = by_key[key];
		if not entry then
			entry = { store = store, type = typ, users = {} };
			by_key[key] = entry;
			table.insert(stores, entry);
		end
		table.insert(entry.users, user);
	end
	local function other(dir)
		others[dir] = (others[dir] or 0) + 1;
	end

	if lfs.attributes(host_dir, "mode") ~= "directory" then
		return stores, others, host_dir; -- no file storage for this host: nothing to import
	end
	for node in lfs.dir(host_dir) do
		if node ~= "." and node ~= ".." then
			local path = host_dir .. "/" .. node;
			local mode = lfs.attributes(path, "mode");
			local name, ext = node:match("^([^.]+)%.(%w+)$");
			if mode == "file" and name and STORE_TYPES[ext] then
				add(decode(name), STORE_TYPES[ext], false); -- the host's own data
			elseif mode == "directory" and not node:match("^%.") then
				local store = decode(node);
				for file in lfs.dir(path) do
					if file ~= "." and file ~= ".." then
						local user, uext = file:match("^([^.]+)%.(%w+)$");
						if user and STORE_TYPES[uext] and lfs.attributes(path .. "/" .. file, "mode") == "file" then
							add(store, STORE_TYPES[uext], decode(user));
						else
							other(store); -- e.g. http_file_share/<slot>.bin, the uploaded files
						end
					end
				end
			else
				other("."); -- e.g. <store>.lidx, an index of <store>.list
			end
		end
	end
	-- A stable order, for readable and comparable output.
	table.sort(stores, function (a, b)
		if a.store ~= b.store then return a.store < b.store; end
		return a.type < b.type;
	end);
	for _, entry in ipairs(stores) do
		table.sort(entry.users, function (a, b) return (a or "") < (b or ""); end);
	end
	return stores, others, host_dir;
end

-- Whether the target holds any data in this store for this host, for any user.
local function target_has_data(target, entry)
	local store = assert(target:open(entry.store, entry.type));
	if store.users then -- SQL: SELECT DISTINCT user (the host's own data is user "")
		for _ in store:users() do return true; end
	end
	-- Also ask for each user we are about to write, the host itself included.
	for _, user in ipairs(entry.users) do
		user = user or nil;
		if entry.type == "keyval" then
			local data, err = store:get(user);
			if err then fail("cannot read %s store %q of %s from the target: %s", entry.type, entry.store, who(user), err); end
			if data ~= nil then return true; end
		else
			local iter, err = store:find(user, { limit = 1 });
			if not iter and err and err ~= "item-not-found" then
				fail("cannot read %s store %q of %s from the target: %s", entry.type, entry.store, who(user), err);
			end
			if iter and iter() ~= nil then return true; end
		end
	end
	return false;
end

-- Reads one user's data (user nil: the host's) from the file store.
-- keyval: returns the table (nil if the file holds nothing);
-- archive: returns a list of { id, stanza, when, with }.
local function read_source(source, entry, user)
	local store = assert(source:open(entry.store, entry.type));
	if entry.type == "keyval" then
		local data, err = store:get(user);
		if data == nil and err then
			fail("cannot read %s store %q of %s from the files: %s", entry.type, entry.store, who(user), err);
		end
		return data;
	end
	local iter, err = store:find(user);
	if not iter then
		if err then fail("cannot read archive %q of %s from the files: %s", entry.store, who(user), err); end
		return {};
	end
	local items = {};
	for id, stanza, when, with in iter do
		if id == nil then
			fail("archive %q of %s has an item without id in the files", entry.store, who(user));
		end
		table.insert(items, { id = id, stanza = stanza, when = when, with = with });
	end
	return items;
end

-- Writes one user's data into the target.
local function write_target(target, entry, user, data)
	local store = assert(target:open(entry.store, entry.type));
	if entry.type == "keyval" then
		local ok, err = store:set(user, data);
		if not ok then fail("cannot write %s store %q of %s: %s", entry.type, entry.store, who(user), tostring(err)); end
		return;
	end
	for _, item in ipairs(data) do
		local id, err = store:append(user, item.id, item.stanza, item.when, item.with);
		if not id then
			fail("cannot write item %s of archive %q of %s: %s", item.id, entry.store, who(user), tostring(err));
		end
	end
end

-- Reads back what was written and compares it with what was read from the files.
local function verify_target(target, entry, user, data)
	local store = assert(target:open(entry.store, entry.type));
	if entry.type == "keyval" then
		local got, err = store:get(user);
		if got == nil then
			fail("%s store %q of %s is missing from the target after the import (%s)", entry.type, entry.store, who(user), tostring(err));
		end
		for key in pairs(data) do
			if got[key] == nil then
				fail("%s store %q of %s: key %q is missing from the target after the import", entry.type, entry.store, who(user), tostring(key));
			end
		end
		return;
	end
	local wanted = {};
	for _, item in ipairs(data) do wanted[item.id] = item; end
	local iter, err = store:find(user);
	if not iter then fail("cannot read back archive %q of %s: %s", entry.store, who(user), tostring(err)); end
	local count = 0;
	for id, _, when, with in iter do
		local item = wanted[id];
		if not item then
			fail("archive %q of %s: unexpected item %s in the target", entry.store, who(user), tostring(id));
		end
		if math.floor(when) ~= math.floor(item.when) or (with or "") ~= (item.with or "") then
			fail("archive %q of %s: item %s has another timestamp or 'with' in the target", entry.store, who(user), id);
		end
		count = count + 1;
	end
	if count ~= #data then
		fail("archive %q of %s: %d items in the files, %d in the target", entry.store, who(user), #data, count);
	end
end

-- The storage drivers for one host: file storage to read, the configured one to write.
local function drivers_for(host)
	-- Under prosodyctl the hosts are only placeholders: storage drivers announce themselves
	-- through the host's events, which initialize_host subscribes to.
	storagemanager.initialize_host(host);
	local source = storagemanager.load_driver(host, "internal");
	if not source then fail("%s: cannot load Prosody's file storage driver (mod_storage_internal)", host); end
	local target, target_name = storagemanager.get_driver(host);
	if not target or target_name == "internal" or target_name == "null" then
		fail("%s: the configuration gives this host no storage to import into (storage = %s)", host, tostring(target_name));
	end
	return source, target, target_name;
end

local function refuse_if_running()
	local pidfile = configmanager.get("*", "pidfile");
	if not pidfile then return; end -- cannot tell; the caller must have stopped Prosody
	local ok, running = require "prosody.util.prosodyctl".isrunning();
	if ok and running then
		fail("Prosody is running (%s is locked): stop it before importing", pidfile);
	end
end

local function run(hosts)
	refuse_if_running();
	local data_path = prosody.paths.data;

	-- 1. Plan: what each host has in files, and check that the target has none of it yet.
	local plan = {};
	for _, host in ipairs(hosts) do
		if not prosody.hosts[host] then
			fail("%s: not a host (VirtualHost or Component) of this configuration", host);
		end
		local source, target, target_name = drivers_for(host);
		local stores, others, host_dir = scan_host(data_path, host);
		for _, entry in ipairs(stores) do
			if target_has_data(target, entry) then
				fail("%s: the %s store %q already holds data in the target (%s): nothing was imported",
					host, entry.type, entry.store, target_name);
			end
		end
		table.insert(plan, { host = host, source = source, target = target, target_name = target_name,
			stores = stores, others = others, host_dir = host_dir });
	end

	-- 2. Read everything from the files before writing anything.
	for _, step in ipairs(plan) do
		for _, entry in ipairs(step.stores) do
			entry.data = {};
			for i, user in ipairs(entry.users) do
				entry.data[i] = read_source(step.source, entry, user or nil);
			end
		end
	end

	-- 3. Write, then 4. read back and compare; report per store.
	for _, step in ipairs(plan) do
		print(("%s: from %s into %s"):format(step.host, step.host_dir, step.target_name));
		if #step.stores == 0 then
			print("  no file storage for this host: nothing to import");
		end
		for _, entry in ipairs(step.stores) do
			local users, items = 0, 0;
			for i, user in ipairs(entry.users) do
				local data = entry.data[i];
				-- Nothing to write for an empty record or list (file storage removes those itself).
				if data ~= nil and next(data) ~= nil then
					write_target(step.target, entry, user or nil, data);
					verify_target(step.target, entry, user or nil, data);
					users = users + 1;
					if entry.type == "archive" then items = items + #data; end
				end
			end
			local owners = {};
			for _, user in ipairs(entry.users) do table.insert(owners, who(user or nil)); end
			if entry.type == "keyval" then
				print(("  keyval  %-24s %d record(s): %s"):format(entry.store, users, table.concat(owners, ", ")));
			else
				print(("  archive %-24s %d item(s) in %d list(s): %s"):format(entry.store, items, users, table.concat(owners, ", ")));
			end
		end
		for dir, n in pairs(step.others) do
			print(("  left in place, not a store: %d file(s) in %s"):format(n, dir == "." and "the host directory" or dir .. "/"));
		end
	end
	print(("imported and verified %d host(s); the files were left in place"):format(#plan));
end

function module.command(arg)
	if #arg == 0 or arg[1] == "--help" or arg[1] == "-h" then
		print("usage: prosodyctl [--config FILE] mod_eldwyn_import_files HOST...");
		print("Copies HOSTs' file storage (" .. tostring(prosody.paths.data) .. ") into their configured storage, Prosody stopped.");
		return 1;
	end
	-- Errors from here on (ours or the drivers') become one line and exit status 1.
	local ok, err = pcall(run, arg);
	if not ok then
		print("mod_eldwyn_import_files: " .. tostring(err));
		print("mod_eldwyn_import_files: FAILED");
		return 1;
	end
	return 0;
end
