-- Clip uploads for wrk (benchmarks/ingest.py): each request a multipart body like a camera's
-- `POST /v1/device/clips`, with its own `started_at` (a repeat would be a retry, answered 200
-- with nothing stored) and the device token of the next camera, round robin.
--
--   wrk -t2 -c64 -d10s -s benchmarks/wrk/ingest.lua URL -- DIR BASE_MS EXPECT THREADS
--
-- DIR holds `tokens` (one device token a line) and `payload` (the clip's bytes); BASE_MS is
-- the first `started_at` (epoch milliseconds), each request 1 ms earlier than the last one
-- of all THREADS threads (the -t given to wrk); EXPECT the status every answer must have. `done` prints one JSON line:
-- wrk's summary, latency percentiles and how many answers had another status.

local boundary = "kasacare-wrk-boundary-7f3a"
local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

local function read(path)
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  return data
end

function init(args)
  local directory = args[1]
  base_ms = tonumber(args[2])
  expect = tonumber(args[3])
  tokens = {}
  for line in read(directory .. "/tokens"):gmatch("[^\n]+") do
    table.insert(tokens, line)
  end
  -- The body around `started_at`, built once: per request one concatenation.
  head = "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"started_at\"\r\n\r\n"
  tail = "\r\n--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"duration_s\"\r\n\r\n20"
    .. "\r\n--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nmotion"
    .. "\r\n--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"video\"; "
    .. "filename=\"clip.mp4\"\r\nContent-Type: video/mp4\r\n\r\n"
    .. read(directory .. "/payload")
    .. "\r\n--" .. boundary .. "--\r\n"
  content_type = "multipart/form-data; boundary=" .. boundary
  -- Threads interleave their instants (thread i takes base - i, base - i - stride, ...) and
  -- the cameras (request n of all threads goes to camera n modulo their number).
  stride = tonumber(args[4])
  sent = 0
  unexpected = 0
  statuses = ""
end

function request()
  local n = sent * stride + thread_index
  local at = base_ms - n
  sent = sent + 1
  local seconds = math.floor(at / 1000)
  local started = os.date("!%Y-%m-%dT%H:%M:%S", seconds) .. string.format(".%03dZ", at % 1000)
  local token = tokens[n % #tokens + 1]
  return wrk.format("POST", nil, {
    ["Content-Type"] = content_type,
    ["Authorization"] = "Device " .. token,
  }, head .. started .. tail)
end

function response(status, headers, body)
  if status ~= expect then
    unexpected = unexpected + 1
    if #statuses < 200 then
      statuses = statuses .. status .. " " .. body:sub(1, 120):gsub("[%c\"\\]", "'") .. "; "
    end
  end
end

function done(summary, latency, requests)
  local wrong, samples = 0, ""
  for _, thread in ipairs(threads) do
    wrong = wrong + thread:get("unexpected")
    samples = samples .. thread:get("statuses")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, '
      .. '"write": %d, "timeout": %d, "non_2xx": %d, "unexpected": %d, "samples": "%s", '
      .. '"p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.timeout,
    e.status, wrong, samples, latency:percentile(50), latency:percentile(99)))
end
