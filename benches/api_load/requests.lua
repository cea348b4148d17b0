-- Rotates over the read routes product teams and dashboards call, each for a different
-- service, team or month, with the bearer token the benchmark configured.
local paths = {}
for i = 0, 99 do
  local month = string.format("2026-%02d", (i % 11) + 1)
  paths[#paths + 1] = "/api/v1/services/svc-" .. (i * 5) .. "/costs"
  paths[#paths + 1] = "/api/v1/costs?from=" .. month .. "&to=" .. month .. "&group_by=tag:service"
  paths[#paths + 1] = "/api/v1/showback/" .. month .. "?by=team&value=team-" .. (i % 40)
end
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1], { ["Authorization"] = "Bearer load-test-token" })
end
