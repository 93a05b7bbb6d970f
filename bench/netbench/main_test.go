package main

import "testing"

const wrkOut = `Running 5s test @ http://127.0.0.1:42421/
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.50ms    6.01ms  47.93ms   97.51%
    Req/Sec   280.64     40.12   340.00     78.00%
  Latency Distribution
     50%    3.04ms
     75%    3.31ms
     90%  850.00us
     99%    1.20s
  1402 requests in 5.01s, 252.20KB read
Requests/sec:    279.84
Transfer/sec:     50.34KB
`

func TestParseWrk(t *testing.T) {
	rps, p50, p99, err := parseWrk(wrkOut)
	if err != nil || rps != 279.84 || p50 != 3.04 || p99 != 1200 {
		t.Errorf("got %v %v %v %v", rps, p50, p99, err)
	}
	if _, _, _, err := parseWrk(wrkOut + "  Socket errors: connect 0, read 0, write 0, timeout 16\n"); err == nil {
		t.Error("timeouts were not an error")
	}
	if _, _, _, err := parseWrk("Requests/sec: 12\n"); err == nil {
		t.Error("no latency distribution accepted")
	}
}
