package loadtest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
)

// Machine describes where the bench ran.
type Machine struct {
	CPUs   int    `json:"cpus"`
	Model  string `json:"cpu_model"`
	MemGiB int    `json:"mem_gib"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
}

// ReadMachine reads /proc for the CPU model, memory and kernel.
func ReadMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var kb int
			if _, err := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &kb); err == nil {
				m.MemGiB = (kb + 512*1024) / (1024 * 1024)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

func fmtRuns(runs []Result) string {
	var s []string
	for _, r := range runs {
		s = append(s, fmt.Sprintf("%.0f", r.CPUus))
	}
	return strings.Join(s, ", ")
}

func targetCell(s Summary) string {
	if s.Met == nil {
		return "-"
	}
	mark := "met"
	if !*s.Met {
		mark = "**missed**"
	}
	return fmt.Sprintf("<= %.0f: %s", s.TargetCPU, mark)
}

// WriteMarkdown writes the report's tables.
func (r *Report) WriteMarkdown(w io.Writer) error {
	bw := bufio.NewWriter(w)
	m := r.Machine
	fmt.Fprintf(bw, "Machine: %d CPUs (%s), %d GiB, Linux %s, %s. ", m.CPUs, m.Model, m.MemGiB, m.Kernel, m.Go)
	fmt.Fprintf(bw, "Load: %d keep-alive connections, warm-up %s, window %s, median of %d runs. ", r.Concurrency, r.Warmup, r.Duration, r.Runs)
	if r.Argon2 != "" {
		fmt.Fprintf(bw, "Password hashing: %s. ", r.Argon2)
	}
	fmt.Fprintf(bw, "Took %s.\n\n", r.Elapsed)
	retried := 0
	for _, s := range r.Endpoints {
		retried += s.Retries
	}
	for _, sc := range r.Scale {
		for _, s := range sc.Endpoints {
			retried += s.Retries
		}
	}
	if retried > 0 {
		fmt.Fprintf(bw, "%d windows were measured again because other work kept the machine busy during them.\n\n", retried)
	}
	if len(r.Endpoints) > 0 {
		fmt.Fprintln(bw, "| endpoint | req/s | p50 ms | p99 ms | server CPU µs/req | runs (µs) | sys % | allocs/req | KiB/req | other load (cores) | target (µs CPU) |")
		fmt.Fprintln(bw, "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|")
		for _, s := range r.Endpoints {
			note := ""
			if s.Concurrency != 0 && s.Concurrency != r.Concurrency {
				note = fmt.Sprintf(" (%d workers)", s.Concurrency)
			}
			if s.Errors > 0 {
				note += fmt.Sprintf(" (%d errors: %s)", s.Errors, s.FirstError)
			}
			fmt.Fprintf(bw, "| %s%s | %.0f | %.2f | %.2f | %.1f | %s | %.0f | %.0f | %.1f | %.2f | %s |\n", s.Endpoint, note, s.Rate, s.P50ms, s.P99ms,
				s.CPUus, fmtRuns(s.Runs), s.SysPct, s.Allocs, s.Bytes/1024, s.OtherCores, targetCell(s))
		}
		if r.NodeMemory.Anon == 0 && r.NodeMemory.File == 0 {
			// A target: only its current RSS is known (from its metrics).
			fmt.Fprintf(bw, "\nTarget node memory at the end: RSS %.0f MB (process_resident_memory_bytes; no peak, no split; sys %% is not visible either).\n",
				mb(r.NodeMemory.RSS))
		} else {
			fmt.Fprintf(bw, "\nNode memory at the end of the single-node run: peak RSS %.0f MB (now %.0f MB: %.0f anonymous, %.0f mapped files).\n",
				mb(r.NodeMemory.Peak), mb(r.NodeMemory.RSS), mb(r.NodeMemory.Anon), mb(r.NodeMemory.File))
		}
	}
	if len(r.Topologies) > 0 {
		r.writeTopologies(bw)
	}
	if len(r.Scale) > 0 {
		var base map[string]float64
		fmt.Fprintln(bw)
		fmt.Fprintln(bw, "| stored families | store MB | endpoint | req/s | p50 ms | p99 ms | server CPU µs/req | runs (µs) | vs smallest | peak RSS MB | RSS at end MB (anon + file) | other load (cores) |")
		fmt.Fprintln(bw, "|---:|---:|---|---:|---:|---:|---:|---|---:|---:|---|---:|")
		for _, sc := range r.Scale {
			if base == nil {
				base = map[string]float64{}
				for _, e := range sc.Endpoints {
					base[e.Endpoint] = e.CPUus
				}
			}
			for _, e := range sc.Endpoints {
				ratio := "-"
				if b := base[e.Endpoint]; b > 0 {
					ratio = fmt.Sprintf("%.2fx", e.CPUus/b)
				}
				fmt.Fprintf(bw, "| %d | %.0f | %s | %.0f | %.2f | %.2f | %.1f | %s | %s | %.0f | %.0f (%.0f + %.0f) | %.2f |\n", sc.Stored, sc.StoreMB, e.Endpoint,
					e.Rate, e.P50ms, e.P99ms, e.CPUus, fmtRuns(e.Runs), ratio, mb(sc.Memory.Peak), mb(sc.Memory.RSS), mb(sc.Memory.Anon), mb(sc.Memory.File), e.OtherCores)
			}
		}
		fmt.Fprintf(bw, "\nActive set: %d families drawn at random from the stored ones (4/5 refresh chains, 1/5 userinfo tokens).\n", r.Scale[0].Active)
	}
	return bw.Flush()
}

// writeTopologies writes the topology comparison: every topology's
// figures against inline, then what each hop adds.
func (r *Report) writeTopologies(bw *bufio.Writer) {
	fmt.Fprintln(bw, "| topology | nodes | storage | driven | what |")
	fmt.Fprintln(bw, "|---|---:|---|---|---|")
	for _, t := range r.Topologies {
		fmt.Fprintf(bw, "| %s | %d | %s | %s | %s (%d sessions, ready in %.0f s) |\n", t.Name, t.Nodes, t.Storage, t.Driven, t.What, t.Sessions, t.SeedSecs)
	}
	inline := map[string]Summary{}
	for _, t := range r.Topologies {
		if t.Name == TopologyInline {
			for _, e := range t.Endpoints {
				inline[e.Endpoint] = e
			}
		}
	}
	var order []string
	for _, t := range r.Topologies {
		for _, e := range t.Endpoints {
			if !slices.Contains(order, e.Endpoint) {
				order = append(order, e.Endpoint)
			}
		}
	}
	delta := func(v, base float64, ok bool, f string) string {
		if !ok {
			return "-"
		}
		return fmt.Sprintf("%+"+f, v-base)
	}
	fmt.Fprintln(bw)
	fmt.Fprintln(bw, "CPU per request is the sum over every node of the topology (`/proc/PID/stat`); latency is the load generator's.")
	fmt.Fprintln(bw)
	fmt.Fprintln(bw, "| endpoint | topology | req/s | p50 ms | p99 ms | CPU µs/req (all nodes) | runs (µs) | allocs/req | p50 vs inline | p99 vs inline | CPU vs inline (µs) | other load (cores) |")
	fmt.Fprintln(bw, "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|")
	for _, ep := range order {
		for _, t := range r.Topologies {
			for _, e := range t.Endpoints {
				if e.Endpoint != ep {
					continue
				}
				b, ok := inline[ep]
				note := ""
				if e.Errors > 0 {
					note = fmt.Sprintf(" (%d errors: %.80s)", e.Errors, e.FirstError)
				}
				fmt.Fprintf(bw, "| %s%s | %s | %.0f | %.2f | %.2f | %.1f | %s | %.0f | %s | %s | %s | %.2f |\n", ep, note, t.Name, e.Rate, e.P50ms, e.P99ms, e.CPUus,
					fmtRuns(e.Runs), e.Allocs, delta(e.P50ms, b.P50ms, ok, ".2f"), delta(e.P99ms, b.P99ms, ok, ".2f"), delta(e.CPUus, b.CPUus, ok, ".0f"), e.OtherCores)
			}
		}
	}
	if len(r.Hops) > 0 {
		fmt.Fprintln(bw)
		fmt.Fprintln(bw, "What each step adds (medians, to minus from):")
		fmt.Fprintln(bw)
		fmt.Fprintln(bw, "| endpoint | step | from -> to | p50 ms | p99 ms | CPU µs/req | CPU % |")
		fmt.Fprintln(bw, "|---|---|---|---:|---:|---:|---:|")
		for _, h := range r.Hops {
			fmt.Fprintf(bw, "| %s | %s | %s -> %s | %+.2f | %+.2f | %+.0f | %+.0f %% |\n", h.Endpoint, h.Hop, h.From, h.To, h.P50ms, h.P99ms, h.CPUus, h.CPUPct)
		}
	}
	for _, t := range r.Topologies {
		var mem []string
		for i, m := range t.Memory {
			mem = append(mem, fmt.Sprintf("%c %.0f MB", 'A'+i, mb(m.Peak)))
		}
		if len(mem) > 0 {
			fmt.Fprintf(bw, "\nPeak RSS, %s: %s.", t.Name, strings.Join(mem, ", "))
		}
	}
	fmt.Fprintln(bw)
}
