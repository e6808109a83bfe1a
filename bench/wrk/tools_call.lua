-- One `tools/call` per request, in either era. The 2026-07-28 call is stateless, so every
-- connection sends it as is; a handshake-era call (BENCH_SESSION set) names the session that
-- bench/measure.py opened with `initialize`, which the gateway seals into its id, so every
-- connection can send that one too.
-- Environment: BENCH_TOOL (the tool name as the target knows it), BENCH_TOKEN (optional bearer),
-- BENCH_TEXT (the argument echoed back, and what a correct reply must contain), BENCH_SESSION
-- (a handshake-era session id; unset for 2026-07-28), BENCH_VERSION (that session's version).
-- Every reply is checked: a non-2xx status or a body without the echoed text counts as bad,
-- and done() prints one JSON line, prefixed with BENCH_RESULT, for bench/run.py.

local tool = os.getenv("BENCH_TOOL") or "echo"
local token = os.getenv("BENCH_TOKEN") or ""
local text = os.getenv("BENCH_TEXT") or "gatehouse-bench"
local expected = '"text":"' .. text .. '"'

local session = os.getenv("BENCH_SESSION") or ""

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
if session == "" then
  wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"' .. tool
    .. '","arguments":{"text":"' .. text .. '"},"_meta":{'
    .. '"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
    .. '"io.modelcontextprotocol/clientCapabilities":{}}}}'
  wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
  wrk.headers["Mcp-Method"] = "tools/call"
  wrk.headers["Mcp-Name"] = tool
else
  wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"' .. tool
    .. '","arguments":{"text":"' .. text .. '"}}}'
  wrk.headers["MCP-Protocol-Version"] = os.getenv("BENCH_VERSION") or "2025-11-25"
  wrk.headers["Mcp-Session-Id"] = session
end
if token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
  sample = ""
end

function response(status, headers, body)
  if status < 200 or status > 299 or not string.find(body, expected, 1, true)
      or string.find(body, '"error":', 1, true) then
    bad = bad + 1
    if sample == "" then
      sample = status .. " " .. string.sub(body, 1, 200)
    end
  end
end

local function quote(s)
  return '"' .. string.gsub(s, '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end) .. '"'
end

function done(summary, latency, requests)
  local bad_total, first = 0, ""
  for _, thread in ipairs(threads) do
    bad_total = bad_total + thread:get("bad")
    local s = thread:get("sample")
    if first == "" and s ~= nil then
      first = s
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},'
      .. '"bad_replies":%d,"bad_sample":%s}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, e.connect, e.read, e.write, e.timeout, e.status, bad_total, quote(first)))
end
