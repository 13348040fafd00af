-- Run on a host this package never deployed (eldwyn/adopt.py), by the Lua that runs its
-- prosodyctl, with Prosody's own source directory on the path:
--
--     lua5.4 - SOURCE_DIR CONFIG_FILE < discover_prosody.lua
--
-- Reads Prosody's configuration exactly as Prosody does (its own configmanager: Include,
-- conf.d wildcards, Lua functions in the file) and prints, as one JSON object, only what the
-- adopt needs: per host, whether it is a VirtualHost or a Component (and of which module), and
-- a few options. Read-only: it opens the config files, writes nothing, and never prints an
-- option that may hold a secret (an SQL password, a component secret).

local source_dir, config_file = arg[1], arg[2]
package.path = source_dir .. "/?.lua;" .. package.path
package.cpath = source_dir .. "/?.so;" .. package.cpath

local configmanager = require "core.configmanager"
local json = require "util.json"

local ok, _, err = configmanager.load(config_file)
if not ok then
	io.stderr:write("cannot read " .. config_file .. ": " .. tostring(err) .. "\n")
	os.exit(3)
end

-- Options copied as they are (strings, numbers, booleans, lists of those).
local PLAIN = {
	"storage", "default_storage", "authentication", "certificate", "certificates", "groups_file",
	"http_file_share_path", "http_file_share_size_limit", "http_file_share_expires_after",
	"modules_enabled", "modules_disabled", "admins", "data_path", "enabled", "component_module",
	"defined", "parent_host",
}

local function plain(value)
	local kind = type(value)
	if kind == "string" or kind == "number" or kind == "boolean" then
		return value
	elseif kind == "table" then
		local copy = {}
		for key, item in pairs(value) do
			if type(key) == "string" or type(key) == "number" then
				copy[key] = plain(item)
			end
		end
		return copy
	end
	return nil -- functions and the like: not data
end

local function options(section)
	local out = {}
	for _, name in ipairs(PLAIN) do
		out[name] = plain(rawget(section, name))
	end
	local sql = rawget(section, "sql")
	if type(sql) == "table" then -- the driver and the database only: never the password
		out.sql = { driver = plain(sql.driver), database = plain(sql.database) }
	end
	local ssl = rawget(section, "ssl")
	if type(ssl) == "table" then -- where the files are, not what the key is
		out.ssl = { certificate = plain(ssl.certificate), key = plain(ssl.key) }
	end
	return out
end

local result = { hosts = {} }
for name, section in pairs(configmanager.getconfig()) do
	if name == "*" then
		result.global = options(section)
	else
		result.hosts[name] = options(section)
	end
end
print(json.encode(result))
