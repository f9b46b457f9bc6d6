// Package pgdriver is the PostgreSQL engine: Open returns the Driver of a
// catalog database, and the provisioners of the three isolation modes live
// here: Database (a database per tenant), Schema (a schema per tenant;
// each tenant pool connects with its own search_path, so it is not safe
// behind a transaction-pooling proxy) and RLS (shared tables under
// row-level security, the tenant bound inside every transaction). They
// spread tenants over shards and bound their connections by a budget.
package pgdriver
