// Package envelope writes the JSON envelope of the REST API, which the
// monitoring routes, the health checks and the admin dashboard's JSON
// errors share:
//
//	{"success":true,"data":…,"meta":…,"message":…,"timestamp":"2006-01-02T15:04:05Z"}
//	{"success":false,"error":"Not Found","message":…,"code":404,"errors":{…},"data":…,"timestamp":…}
//
// meta, message, errors and the error's data are left out when empty. A
// Writer's zero value writes the way the REST API does (streamed, without
// HTML escaping); its fields keep the other callers' ways (a buffered body
// with Content-Length, HTML escaping, Cache-Control: no-store), so that
// each one's answers stay byte for byte what they were.
package envelope
