package tenancy

// vetoable reports whether hooks on kind run before the change and can stop it.
func vetoable(k EventKind) bool { return k == EventCreating || k == EventDeleting }
