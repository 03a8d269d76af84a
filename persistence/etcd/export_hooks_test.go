package etcd

// SetExportPageSize makes Export read n records per page until the
// returned function restores the size.
func SetExportPageSize(n int64) func() {
	old := exportPageSize
	exportPageSize = n
	return func() { exportPageSize = old }
}
