// Package config reads a node's configuration: node.Default(), then a YAML
// file, then AUTHRIM_* environment variables, then node.Config.Validate.
// It is strict: an unknown key (with a did-you-mean suggestion), an
// ill-typed value, an unknown AUTHRIM_* variable or an invalid value stops
// the start, and every problem is reported at once in a *ConfigError.
//
// It sits next to node, not inside it, so that node keeps taking a typed
// Config and never reads a file or the environment; and outside
// cmd/authrim, so that what loads a config (serve, bench, tests of the
// shipped examples) is a package with its own tests rather than 700 lines
// of package main. Only the authrim command calls Load at run time.
//
// The loader walks node.Config by reflection over its yaml tags, so a new
// config key needs no change here; a test fails when a field has a type
// the loader cannot fill.
package config
