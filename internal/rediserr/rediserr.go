// Package rediserr tells apart the ways a Redis command fails, for the
// packages that talk to Redis (the change feed, the cache): a server that
// refuses the client's configuration, which is a mistake to report at
// start, and a server that cannot be reached or is not ready, which is an
// outage to ride out.
package rediserr

import (
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

// transientReplies start the error replies of a server that is starting,
// busy or failing over: it will answer later.
var transientReplies = []string{"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN"}

// Refused reports whether err, from a command sent to Redis, is Redis
// refusing the client's configuration (a wrong password or user, a
// database number it does not have: an error reply) rather than Redis
// being unreachable or not ready yet (a network error, a timeout, or one
// of the replies of a server that is starting or failing over: LOADING,
// BUSY, MASTERDOWN, TRYAGAIN).
func Refused(err error) bool {
	var reply redis.Error
	if !errors.As(err, &reply) {
		return false
	}
	for _, prefix := range transientReplies {
		if strings.HasPrefix(reply.Error(), prefix) {
			return false
		}
	}
	return true
}
