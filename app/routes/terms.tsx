import type { MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { useLoaderData } from "@remix-run/react";
import { OperatorPageView } from "~/components/operator-page";
import { getRuntime } from "~/services/runtime.server";
import { operatorPage } from "~/services/site/operator-pages.server";

export const meta: MetaFunction = () => [{ title: "Terms of service · Credits Studio" }];

export async function loader() {
  return json(operatorPage(getRuntime().config, "terms"));
}

export default function Page() {
  return <OperatorPageView {...useLoaderData<typeof loader>()} />;
}
