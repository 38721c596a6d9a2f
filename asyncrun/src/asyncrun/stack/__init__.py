"""The resolved stack: the model (which imports nothing of asyncrun), the resolver of
function references, template reading, samconfig, intrinsics, the endpoint and
provisioning."""
