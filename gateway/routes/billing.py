"""Billing service operations (BIL-01 … BIL-09), one line each."""

from __future__ import annotations

from gateway.routetable import Route
from services.billing import schemas as s

PLANS = ("payment plans",)
INVOICES = ("invoices",)
PAYMENTS = ("payments",)
RECEIVABLES = ("receivables",)
CREDIT = ("credit",)
DUNNING = ("dunning",)
EXPENSES = ("expenses",)
REPORTS = ("billing reports",)
STORED_VALUE = ("stored value",)

ROUTES = [
    # -- payment plans (BIL-01) ---------------------------------------------------------
    Route("GET", "/payment-plans", "billing", "list_payment_plans", "invoice:read",
          query=s.PaymentPlanQuery, response=s.PaymentPlanPage, tags=PLANS,
          summary="Payment plans (one per confirmed order); installments sum exactly to "
          "the order amount"),
    Route("GET", "/payment-plans/{plan_id}", "billing", "get_payment_plan", "invoice:read",
          response=s.PaymentPlan, tags=PLANS),
    Route("POST", "/payment-plans/{plan_id}/installments/{number}/invoice", "billing",
          "invoice_installment", "invoice:write", body=s.InstallmentInvoiceIn,
          response=s.Invoice, status=201, tags=PLANS,
          summary="Invoice an installment now (the timer does it N days before due)"),
    # -- invoices (BIL-02) --------------------------------------------------------------
    Route("GET", "/invoices", "billing", "list_invoices", "invoice:read",
          query=s.InvoiceQuery, response=s.InvoicePage, tags=INVOICES),
    Route("POST", "/invoices", "billing", "issue_invoice", "invoice:write",
          body=s.InvoiceCreate, response=s.Invoice, status=201, tags=INVOICES,
          summary="Issue an invoice by hand (numbered INV-<year>-<n>)"),
    Route("GET", "/invoices/{invoice_id}", "billing", "get_invoice", "invoice:read",
          response=s.Invoice, tags=INVOICES),
    Route("POST", "/invoices/{invoice_id}/void", "billing", "void_invoice", "invoice:write",
          body=s.VoidRequest, response=s.Invoice, if_match=True, tags=INVOICES,
          summary="Void an invoice with no payments on it (else 409)"),
    Route("GET", "/invoices/{invoice_id}/dunning-log", "billing", "get_dunning_log",
          "invoice:read", response=s.DunningLog, tags=DUNNING,
          summary="Reminders sent (and steps skipped) for an invoice"),
    # -- payments (BIL-03) --------------------------------------------------------------
    Route("POST", "/payments", "billing", "create_payment", "payment:write",
          body=s.PaymentCreate, response=s.Payment, status=201, tags=PAYMENTS,
          summary="Record money received; allocated oldest due first unless told; the "
          "rest is the customer's credit balance"),
    Route("GET", "/payments", "billing", "list_payments", "payment:read",
          query=s.PaymentQuery, response=s.PaymentPage, tags=PAYMENTS, confidential=True),
    Route("GET", "/payments/{payment_id}", "billing", "get_payment", "payment:read",
          response=s.Payment, tags=PAYMENTS, confidential=True),
    Route("POST", "/payments/{payment_id}/refund", "billing", "refund_payment",
          "payment:write", body=s.RefundRequest, response=s.Payment, tags=PAYMENTS,
          summary="Refund: from the credit balance first, then the latest-due invoices"),
    Route("POST", "/payments/{payment_id}/allocate", "billing", "allocate_payment",
          "payment:write", body=s.AllocateRequest, response=s.Payment, tags=PAYMENTS,
          summary="Apply a payment's credit balance to invoices now"),
    # -- receivables (BIL-04) -----------------------------------------------------------
    Route("GET", "/receivables", "billing", "list_receivables", "receivable:read",
          query=s.ReceivableQuery, response=s.ReceivablePage, tags=RECEIVABLES,
          summary="Outstanding on open invoices per customer and currency"),
    Route("GET", "/receivables/ageing", "billing", "get_ageing", "receivable:read",
          query=s.AgeingQuery, response=s.AgeingReport, tags=RECEIVABLES,
          summary="Ageing as of any date: current (not yet due), 0-30, 31-60, 61-90, 90+ "
          "days past due, by customer, rep or team"),
    Route("GET", "/statements", "billing", "get_statement", "receivable:read",
          query=s.StatementQuery, response=s.Statement, tags=REPORTS, confidential=True,
          summary="A customer's statement: invoices, voids, payments, refunds, balances"),
    Route("GET", "/reports/period", "billing", "get_period_report", "report:read",
          query=s.PeriodQuery, response=s.PeriodReport, tags=REPORTS,
          summary="Sales, invoiced, received, receivable and expenses for a period by "
          "rep, customer or team"),
    # -- credit (BIL-05) ----------------------------------------------------------------
    Route("GET", "/credit/{customer_id}", "billing", "get_credit", "credit:read",
          response=s.CreditProfile, tags=CREDIT, confidential=True,
          summary="Limit, hold, rating and exposure of a customer"),
    Route("PUT", "/credit/{customer_id}", "billing", "put_credit", "credit:write",
          body=s.CreditUpdate, response=s.CreditProfile, if_match="required", tags=CREDIT,
          summary="Set the limit or hold (If-Match required: the version you read; a "
          "customer with no profile yet is at version 0)"),
    Route("POST", "/credit/{customer_id}/check", "billing", "check_customer_credit",
          "credit:read", body=s.CreditCheckRequest, response=s.CreditCheckResult,
          tags=CREDIT, summary="Would an order of this amount pass the credit check?"),
    # -- dunning (BIL-06) ---------------------------------------------------------------
    Route("GET", "/dunning-settings", "billing", "get_dunning_settings", "dunning:read",
          response=s.DunningSettings, tags=DUNNING),
    Route("PUT", "/dunning-settings", "billing", "put_dunning_settings",
          "dunning:configure", body=s.DunningSettings, response=s.DunningSettings,
          tags=DUNNING),
    Route("POST", "/dunning/run", "billing", "run_dunning", "dunning:configure",
          body=s.JobRun, response=s.DunningRunResult, tags=DUNNING, timeout=120,
          summary="Run dunning now as of a date (the timer runs it every minute)"),
    Route("GET", "/billing-settings", "billing", "get_billing_settings", "invoice:read",
          response=s.BillingSettings, tags=("billing settings",)),
    Route("PUT", "/billing-settings", "billing", "put_billing_settings", "invoice:write",
          body=s.BillingSettings, response=s.BillingSettings, tags=("billing settings",)),
    Route("POST", "/billing-jobs/run", "billing", "run_billing_job", "dunning:configure",
          body=s.BillingJobRun, response=s.BillingJobResult, tags=("billing settings",),
          timeout=120, summary="Run a timer job (installments, overdue, dunning, ratings) "
          "now as of a date"),
    # -- expenses (BIL-08) --------------------------------------------------------------
    Route("POST", "/expenses", "billing", "create_expense", "expense:write",
          body=s.ExpenseCreate, response=s.Expense, status=201, tags=EXPENSES),
    Route("GET", "/expenses", "billing", "list_expenses", "expense:read",
          query=s.ExpenseQuery, response=s.ExpensePage, tags=EXPENSES),
    Route("GET", "/expenses/{expense_id}", "billing", "get_expense", "expense:read",
          response=s.Expense, tags=EXPENSES),
    Route("PATCH", "/expenses/{expense_id}", "billing", "update_expense", "expense:write",
          body=s.ExpenseUpdate, response=s.Expense, if_match=True, tags=EXPENSES,
          summary="Edit a draft or rejected expense (the submitter)"),
    Route("POST", "/expenses/{expense_id}/submit", "billing", "submit_expense",
          "expense:write", response=s.Expense, tags=EXPENSES),
    Route("POST", "/expenses/{expense_id}/approve", "billing", "approve_expense",
          "expense:approve", body=s.ExpenseDecision, response=s.Expense, tags=EXPENSES,
          summary="Approve (the submitter's team manager, or finance / admin)"),
    Route("POST", "/expenses/{expense_id}/reject", "billing", "reject_expense",
          "expense:approve", body=s.ExpenseDecision, response=s.Expense, tags=EXPENSES,
          summary="Reject with a comment"),
    Route("GET", "/campaign-costs", "billing", "get_campaign_costs", "expense:read",
          query=s.CampaignCostQuery, response=s.CampaignCostReport, tags=EXPENSES,
          summary="A campaign's approved and pending expenses"),
    # -- stored value (BIL-09) ----------------------------------------------------------
    Route("POST", "/stored-value-accounts", "billing", "open_stored_value_account",
          "stored_value:write", body=s.StoredValueAccountIn, response=s.StoredValueAccount,
          status=201, tags=STORED_VALUE,
          summary="Open a customer's prepaid account in a currency (one per currency), "
          "or a member card's (card_id: one per card and currency)"),
    Route("GET", "/stored-value-accounts", "billing", "list_stored_value_accounts",
          "stored_value:read", query=s.StoredValueAccountQuery,
          response=s.StoredValueAccountPage, tags=STORED_VALUE),
    Route("GET", "/stored-value-accounts/{account_id}", "billing",
          "get_stored_value_account", "stored_value:read", response=s.StoredValueAccount,
          tags=STORED_VALUE),
    Route("POST", "/stored-value-accounts/{account_id}/top-ups", "billing",
          "top_up_stored_value", "stored_value:write", body=s.TopUpIn,
          response=s.StoredValuePosting, status=201, tags=STORED_VALUE,
          summary="Add money received to the balance, and the bonus of the top-up bonus "
          "tier it reaches (held apart from the principal)"),
    Route("POST", "/stored-value-accounts/{account_id}/spend", "billing",
          "spend_stored_value", "stored_value:write", body=s.SpendIn,
          response=s.StoredValuePosting, status=201, tags=STORED_VALUE,
          summary="Pay an invoice from the balance (a payment of method stored_value); "
          "more than the balance is a 422 insufficient_balance"),
    Route("POST", "/stored-value-accounts/{account_id}/refunds", "billing",
          "refund_stored_value", "stored_value:refund", body=s.StoredValueRefundIn,
          response=s.StoredValuePosting, status=201, tags=STORED_VALUE,
          summary="Give unused principal back to the customer (the bonus is forfeited in "
          "the same share)"),
    Route("GET", "/stored-value-accounts/{account_id}/entries", "billing",
          "list_stored_value_entries", "stored_value:read", query=s.StoredValueEntryQuery,
          response=s.StoredValueEntryPage, tags=STORED_VALUE,
          summary="The account's movements (immutable)"),
    Route("GET", "/stored-value-balances", "billing", "get_stored_value_balances",
          "stored_value:read", query=s.StoredValueBalanceQuery,
          response=s.StoredValueBalances, tags=STORED_VALUE,
          summary="A customer's prepaid balance per currency: the sum of its own account "
          "and its member cards' accounts, principal and bonus apart"),
    Route("GET", "/stored-value-settings", "billing", "get_stored_value_settings",
          "stored_value:read", response=s.StoredValueSettings, tags=STORED_VALUE),
    Route("PUT", "/stored-value-settings", "billing", "put_stored_value_settings",
          "stored_value:configure", body=s.StoredValueSettings,
          response=s.StoredValueSettings, tags=STORED_VALUE,
          summary="Top-up bonus tiers (top up at least X, get Y), per currency"),
    Route("GET", "/stored-value-statements", "billing",
          "get_stored_value_statement", "stored_value:read",
          query=s.StoredValueStatementQuery, response=s.StoredValueStatement,
          tags=STORED_VALUE,
          summary="Opening balance, the period's movements and the closing balance "
          "(opening + credits - debits = closing)"),
]
