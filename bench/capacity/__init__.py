"""Capacity as code: each scenario's demand per order, recorded on the local stack; AWS's quotas and prices as data;
a model of where a thousand orders a second (or a flash sale on one SKU) meets them. See docs/capacity.md."""
