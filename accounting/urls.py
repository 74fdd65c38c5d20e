"""Invoices' downloads: the staff's files."""

from django.urls import path

from accounting import views

app_name = "accounting"
urlpatterns = [
    path("accounting/invoices/<int:pk>/pdf/", views.staff_invoice_file, {"fmt": "pdf"}, name="staff_invoice_pdf"),
    path("accounting/invoices/<int:pk>/ubl/", views.staff_invoice_file, {"fmt": "ubl"}, name="staff_invoice_ubl"),
]
