"""Adapters at the edge: WILDS (pip ``wilds``) and a DomainBed checkout, each optional."""
