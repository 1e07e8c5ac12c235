"""The HTTP edge shared by the API functions: the resolver, its guard, auth, errors and the documented responses."""
