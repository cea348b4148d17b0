"""13 months of daily FOCUS 1.2 costs for SERVICES services (one row per service and day,
tagged with its team and service): the data the API load benchmark reads."""

import datetime
import sys

HEADER = (
    "BilledCost,BillingAccountId,BillingAccountName,BillingCurrency,BillingPeriodStart,BillingPeriodEnd,"
    "ChargeCategory,ChargePeriodStart,ChargePeriodEnd,EffectiveCost,InvoiceId,ListCost,ProviderName,RegionId,"
    "ServiceCategory,ServiceName,ServiceSubcategory,SubAccountId,SubAccountName,Tags"
)


def main(path, services, first_month):
    start = datetime.date.fromisoformat(first_month + "-01")
    year, month = start.year, start.month
    with open(path, "w") as out:
        out.write(HEADER + "\n")
        for _ in range(13):
            first = datetime.date(year, month, 1)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
            end = datetime.date(year, month, 1)
            day = first
            while day < end:
                for s in range(services):
                    cost = f"{(s % 97) + 1 + (day.day % 7) * 0.25:.2f}"
                    tags = f'"{{""team"":""team-{s % 40}"",""service"":""svc-{s}""}}"'
                    out.write(
                        f"{cost},111122223333,Acme,USD,{first}T00:00:00Z,,Usage,{day}T00:00:00Z,{day}T23:59:59Z,"
                        f"{cost},INV-1,{cost},AWS,us-east-1,Compute,Amazon EC2,Virtual Machines,210987654321,prod,{tags}\n"
                    )
                day += datetime.timedelta(days=1)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
