package management

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/http/oauth2"
)

// BackupPath streams a snapshot of the node's database.
const BackupPath = "/admin/backup"

// backupIdle bounds how long one write of the snapshot may take. The
// snapshot holds a read transaction for as long as it streams, and a long
// read transaction keeps the store from growing its file, so a client
// that stops reading is cut off; a slow one that keeps reading is not
// (the server's overall write timeout is lifted for this route).
const backupIdle = 30 * time.Second

// Snapshotter writes a consistent copy of the whole store, as a complete
// authrim.db file, while the node keeps serving: bbolt's own file, or on
// etcd every record read at one revision (persistence/snapshot).
type Snapshotter interface {
	WriteTo(w io.Writer) (int64, error)
}

// WithBackup adds GET /admin/backup to what Mount registers.
func (a *Admin) WithBackup(s Snapshotter) *Admin {
	a.backup = s
	return a
}

// getBackup streams the snapshot. The status line goes out with the
// first byte: a snapshot that fails before it (a closed store) gets an
// ordinary error answer. One that fails part way cannot change the status
// any more, so the connection is aborted (no terminating chunk), which
// the client sees as an unexpected EOF rather than a short file that
// looks complete.
func (a *Admin) getBackup(c echo.Context) error {
	started := time.Now()
	res := c.Response()
	h := res.Header()
	h.Set(echo.HeaderContentType, echo.MIMEOctetStream)
	h.Set(echo.HeaderContentDisposition,
		fmt.Sprintf(`attachment; filename="authrim-%s.db"`, started.UTC().Format("20060102T150405Z")))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")

	w := &deadlineWriter{w: res, rc: http.NewResponseController(res)}
	n, err := a.backup.WriteTo(w)
	if err != nil && !res.Committed {
		h.Del(echo.HeaderContentDisposition)
		h.Del(echo.HeaderContentType) // c.JSON keeps one already set
		return oauth2.Write(c, a.logger, err)
	}
	if err != nil {
		a.logger.Error("backup failed", "bytes", n, "err", err)
		panic(http.ErrAbortHandler)
	}
	if err := w.rc.Flush(); err != nil {
		a.logger.Error("backup failed", "bytes", n, "err", err)
		panic(http.ErrAbortHandler)
	}
	a.logger.Info("backup sent", "bytes", n, "duration", time.Since(started).Round(time.Millisecond),
		"remote", c.RealIP())
	return nil
}

// deadlineWriter moves the connection's write deadline forward before
// every write: a stalled client fails within backupIdle, a large snapshot
// on a slow link still completes. Where deadlines are not supported
// (tests with a recorder) the server's own timeouts apply.
type deadlineWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(backupIdle))
	return d.w.Write(p)
}
