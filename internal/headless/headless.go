// Package headless starts Debian's Chromium for the tests that need a
// real browser (passkeys, the demo, re-authentication): one place for
// where the browser is, how a missing one is treated, and the flags that
// keep it quiet and self-contained. Tests only; it never downloads a
// browser.
package headless

import (
	"context"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

// Path is Debian's chromium package; .ci/run installs it.
const Path = "/usr/bin/chromium"

// Require skips t when Chromium is missing, or fails it under CI (where
// a skipped browser test would pass unnoticed).
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(Path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (%v): CI must install Debian's chromium package (see .ci/run)", Path, err)
		}
		t.Skipf("%s is missing: apt-get install chromium to run the real-browser tests", Path)
	}
}

// Start starts headless Chromium with a fresh profile and returns its
// first tab; the browser exits when the test ends. extra adds allocator
// options (a window size, say).
func Start(t testing.TB, ctx context.Context, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("password-store", "basic"),
	}, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx)
	// Cleanups run in reverse: the browser exits before its user data
	// dir (a TempDir registered above) is removed.
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	if err := chromedp.Do(tabCtx); err != nil { // starts the browser and the tab
		t.Fatalf("starting %s: %v", Path, err)
	}
	return tabCtx
}
