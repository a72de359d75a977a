"""Proctoring: who may watch whom live, the exam wall's tiles, and the audit of watching."""
