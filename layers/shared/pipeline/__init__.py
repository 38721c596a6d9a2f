"""Shared code of the order pipeline's functions (the layer every function imports).

Models, data only:
    models         the stage contracts (AcceptedUpload/UploadResult, ProcessedUpload/
                   ProcessResult, AuditEntry/AuditResult) and the invocation record
    events         the S3 event notification, reduced to what the pipeline reads
    errors         the errors the stages raise on purpose (their names become errorType)

Logic, one module per stage and concept:
    uploads        the upload stage: check, fingerprint and accept each new object
    orders         reading and validating order rows, summing up a batch
    processing     the process stage: one outcome per upload
    auditing       the audit stage: one entry per upload with the whole chain
    idempotency    once per upload, whatever Lambda delivers twice

Data access, the only modules that call AWS:
    clients        the boto3 clients, created on first use
    objects        reading uploaded objects from S3
    process_table  the process table's items
    audit_log      the audit bucket's entries

Around them:
    settings       the environment, parsed once
    observability  Logger, Tracer and Metrics

Imports go down only: models import models, data access imports models and the clients,
and only the logic sees everything."""
