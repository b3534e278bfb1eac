"""The Recruiter Dashboard: the seed's Prospects page in a browser, a client of the contract."""
