"""`make audit`: the books balance; every order the client saw acknowledged is stored."""
