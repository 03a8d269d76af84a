package management

import (
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"authrim/http/oauth2"
)

// ClusterPath is the admin route of the cluster status.
const ClusterPath = "/admin/cluster"

// ClusterStatus serves the node set's status to operators: the members,
// where the KeyManager lives, the etcd leader and each member's health.
type ClusterStatus struct {
	admin  *Admin
	status func(c echo.Context) (any, error)
	logger *slog.Logger
}

// NewClusterStatus guards status with the admin token.
func NewClusterStatus(token string, status func(c echo.Context) (any, error), logger *slog.Logger) *ClusterStatus {
	return &ClusterStatus{admin: NewAdmin(token, nil, logger), status: status, logger: logger}
}

// Mount registers GET /admin/cluster.
func (s *ClusterStatus) Mount(e *echo.Echo) {
	e.GET(ClusterPath, func(c echo.Context) error {
		st, err := s.status(c)
		if err != nil {
			s.logger.Error("cluster status", "err", err)
			return oauth2.Write(c, s.logger, oauth2.ErrTemporarilyUnavail.WithDescription("cluster status unavailable"))
		}
		return c.JSON(http.StatusOK, st)
	}, s.admin.authenticate)
}
