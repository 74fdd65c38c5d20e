"""Invoices' downloads: the customers' pages under My Account (account/invoices/), the staff's files."""

from django.urls import path

from accounting import views

app_name = "accounting"
urlpatterns = [
    path("account/invoices/", views.invoice_list, name="invoices"),
    path("account/invoices/<int:pk>/pdf/", views.invoice_file, {"fmt": "pdf"}, name="invoice_pdf"),
    path("account/invoices/<int:pk>/ubl/", views.invoice_file, {"fmt": "ubl"}, name="invoice_ubl"),
    path("accounting/invoices/<int:pk>/pdf/", views.staff_invoice_file, {"fmt": "pdf"}, name="staff_invoice_pdf"),
    path("accounting/invoices/<int:pk>/ubl/", views.staff_invoice_file, {"fmt": "ubl"}, name="staff_invoice_ubl"),
]
