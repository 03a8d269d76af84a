package management

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"authrim/http/oauth2"
	"authrim/http/router"
)

// ClusterPath is the admin route of the cluster status; etcd members are
// managed under ClusterPath + "/etcd-members".
const ClusterPath = "/admin/cluster"

// ClusterOps is what the cluster admin routes need from the node.
type ClusterOps interface {
	// Status is the node set as this node sees it (JSON-encodable).
	Status(c echo.Context) (any, error)
	// AddEtcdMember announces a new etcd member and returns the
	// initial_cluster string it must start with (state: existing).
	AddEtcdMember(c echo.Context, name, peerURL string) (initialCluster string, err error)
	// RemoveEtcdMember removes the etcd member called name.
	RemoveEtcdMember(c echo.Context, name string) error
}

// clusterRoutes serve the node set's status and etcd membership to
// operators (Admin.WithCluster; behind the bearer token).
func clusterRoutes(ops ClusterOps, logger *slog.Logger) []router.Route {
	s := &clusterAdmin{ops: ops, logger: logger}
	return []router.Route{
		{Method: http.MethodGet, Path: ClusterPath, Handler: s.status},
		{Method: http.MethodPost, Path: ClusterPath + "/etcd-members", Handler: s.addEtcdMember},
		{Method: http.MethodDelete, Path: ClusterPath + "/etcd-members/:name", Handler: s.removeEtcdMember},
	}
}

type clusterAdmin struct {
	ops    ClusterOps
	logger *slog.Logger
}

// EtcdMemberRequest is the body of POST /admin/cluster/etcd-members.
type EtcdMemberRequest struct {
	Name    string `json:"name"`
	PeerURL string `json:"peer_url"`
}

// EtcdMemberAdded answers it.
type EtcdMemberAdded struct {
	InitialCluster string `json:"initial_cluster"`
}

func (s *clusterAdmin) status(c echo.Context) error {
	st, err := s.ops.Status(c)
	if err != nil {
		return s.unavailable(c, "cluster status", err)
	}
	return c.JSON(http.StatusOK, st)
}

func (s *clusterAdmin) addEtcdMember(c echo.Context) error {
	var req EtcdMemberRequest
	if err := c.Bind(&req); err != nil {
		return oauth2.Write(c, s.logger, oauth2.ErrInvalidRequest.WithDescription("body must be JSON {name, peer_url}"))
	}
	u, err := url.Parse(req.PeerURL)
	if req.Name == "" || strings.ContainsAny(req.Name, "=, ") || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return oauth2.Write(c, s.logger, oauth2.ErrInvalidRequest.WithDescription("name (no '=', ',' or spaces) and an http(s) peer_url are required"))
	}
	ic, err := s.ops.AddEtcdMember(c, req.Name, req.PeerURL)
	if err != nil {
		return s.unavailable(c, "etcd member add", err)
	}
	s.logger.Warn("admin: etcd member added", "audit", true, "name", req.Name, "peer_url", req.PeerURL)
	return c.JSON(http.StatusCreated, EtcdMemberAdded{InitialCluster: ic})
}

func (s *clusterAdmin) removeEtcdMember(c echo.Context) error {
	name := c.Param("name")
	if err := s.ops.RemoveEtcdMember(c, name); err != nil {
		if strings.Contains(err.Error(), "no etcd member") {
			return oauth2.Write(c, s.logger, oauth2.ErrNotFound.WithDescription(err.Error()))
		}
		return s.unavailable(c, "etcd member remove", err)
	}
	s.logger.Warn("admin: etcd member removed", "audit", true, "name", name)
	return c.NoContent(http.StatusNoContent)
}

func (s *clusterAdmin) unavailable(c echo.Context, what string, err error) error {
	s.logger.Error(what, "err", err)
	return oauth2.Write(c, s.logger, oauth2.ErrTemporarilyUnavail.WithDescription(what+": "+err.Error()))
}
