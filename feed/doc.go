// Package feed carries "the catalog changed" between the nodes of a
// deployment, so that a change made on one node (a status, a domain,
// maintenance mode, a deletion) takes effect on all of them.
//
// A node learns of a change in one of two ways: a hook on its own Manager,
// for changes it makes itself (resolve.Cache registers those), or a
// resolve.Watcher, for changes made by others. This package provides the
// second over Redis pub/sub, and the first's counterpart that announces the
// node's own changes:
//
//   - [Redis.Hook] publishes the tenant's uuid on a Redis channel after
//     every change made through the Manager it is registered on;
//   - [Redis.Watch] (a resolve.Watcher) subscribes to the channel and tells
//     resolve.Cache to reload its snapshot on every message, and again
//     whenever the subscription is re-established after a lost connection,
//     since messages published meanwhile are lost.
//
// Pub/sub delivers a message to whoever is subscribed at the moment and to
// no one else. So a message names the tenant that changed, but a watcher
// takes every message as "reload now", and a node that was cut off reloads
// when its subscription is back: a reload is a full read of the catalog, so
// nodes converge whatever messages they missed.
//
// [Multi] runs several watchers as one, for a node that watches both the
// catalog itself (sqlitestore's PRAGMA data_version polling, PostgreSQL's
// LISTEN/NOTIFY, MySQL's polling) and Redis.
//
// Redis is a shortcut, not the only road: a node that watches its catalog
// too hears every change while Redis is down. So an outage stops nothing.
// [NewRedis] succeeds with Redis unreachable (it logs a warning and keeps
// trying in the background); a change whose announcement fails is still
// committed and reaches the other nodes through their catalog watchers; a
// Watch whose subscription is down keeps waiting for it without stopping
// the catalog watcher beside it in Multi.
package feed
