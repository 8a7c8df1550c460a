"""Usage metering: records per request, prices and cost, the journal, the batch writer, reports."""
