// Package net will give containers their networks: none, host, bridge
// and user-defined networks through netlink, and rootless networking.
package net
