// Package mysqldriver is the MySQL and MariaDB engine: Open returns the
// Driver of a catalog database, and Database makes a database per tenant,
// spread over shards under a connection budget.
package mysqldriver
