// Package tenantdbtest is the conformance suite every tenantdb.Provisioner
// must pass. A provisioner's own tests call [Run]:
//
//	func TestConformance(t *testing.T) {
//		tenantdbtest.Run(t, func(t *testing.T) tenantdb.Provisioner {
//			p, err := sqlitedriver.NewProvisioner(&sqlitedriver.ProvisionerConfig{Dir: t.TempDir()})
//			if err != nil {
//				t.Fatal(err)
//			}
//			return p
//		}, &tenantdbtest.Options{CountObjects: ..., Inventory: ...})
//
// The suite uses only portable SQL (CREATE TABLE, INSERT, SELECT count(*)),
// and the engine-specific questions it cannot ask portably (how many schema
// objects are left, what the engine's storage holds) are answered by the
// optional functions in [Options].
package tenantdbtest
