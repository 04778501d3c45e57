"""Accounts: the people (and apps) in ``users`` who sign in, their passwords,
sessions and roles. One kind of account: a person who owns keys is the person who
signs in; admins are users with the admin role (issue 27)."""
