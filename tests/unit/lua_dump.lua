-- Test helper: read Lua the way Prosody would and print what it holds, canonically.
--   lua5.4 lua_dump.lua value FILE    FILE is `return <literal>`: prints the value
--   lua5.4 lua_dump.lua config FILE   FILE is a Prosody config: prints "<host>\t<options>" per
--                                     host ("*" is the global section)
-- Canonical form: strings s:<hex of the bytes>, integers n:<digits>, booleans b:true|false,
-- tables {key=value,...} sorted by key. tests/unit/test_lua.py builds the same form in Python.

local function dump(value)
	local kind = type(value)
	if kind == "string" then
		return "s:" .. value:gsub(".", function(c) return ("%02x"):format(c:byte()) end)
	elseif kind == "number" then
		return ("n:%d"):format(value)
	elseif kind == "boolean" then
		return "b:" .. tostring(value)
	elseif kind == "table" then
		local items = {}
		for k, v in pairs(value) do items[#items + 1] = dump(k) .. "=" .. dump(v) end
		table.sort(items)
		return "{" .. table.concat(items, ",") .. "}"
	end
	error("cannot dump a " .. kind)
end

local mode, path = arg[1], arg[2]
if mode == "value" then
	print(dump(assert(loadfile(path, "t", {}))()))
elseif mode == "config" then
	-- The same shape as Prosody's config reader (core/configmanager.lua): assignments go to the
	-- section opened by the last VirtualHost/Component line, the global one before any.
	local hosts = { ["*"] = {} }
	local current = hosts["*"]
	local api = {
		VirtualHost = function(name)
			current = {}; hosts[name] = current
		end,
		Component = function(name)
			current = {}; hosts[name] = current
			return function(module) current.component_module = module end
		end,
		Include = function() end,
		FileLine = function(path) return "FileLine(" .. path .. ")" end,
	}
	local env = setmetatable({}, {
		__index = api,
		__newindex = function(_, key, value) current[key] = value end,
	})
	assert(loadfile(path, "t", env))()
	local names = {}
	for name in pairs(hosts) do names[#names + 1] = name end
	table.sort(names)
	for _, name in ipairs(names) do print(name .. "\t" .. dump(hosts[name])) end
else
	error("usage: lua_dump.lua value|config FILE")
end
