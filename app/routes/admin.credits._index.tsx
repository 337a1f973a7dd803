import type { LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Form, Link, useLoaderData, useLocation, useNavigation } from "@remix-run/react";
import { AdminUserTable } from "~/components/admin-user-table";
import { Pager, withParams } from "~/components/history-table";
import { listUsers } from "~/services/admin/user-list.server";
import { requireAdmin } from "~/services/auth.server";
import { getRuntime } from "~/services/runtime.server";
import { UserListQuerySchema, type SortDirection, type UserSort } from "~/utils/admin-schemas";

export const meta: MetaFunction = () => [{ title: "Users · Admin · Credits Studio" }];

export async function loader({ request }: LoaderFunctionArgs) {
  await requireAdmin(request);
  const query = UserListQuerySchema.parse(Object.fromEntries(new URL(request.url).searchParams));
  return json(await listUsers(getRuntime().db, query), { headers: { "Cache-Control": "private, no-store" } });
}

const SORT_NAMES: Record<UserSort, string> = { email: "email", credits: "balance", created: "sign-up date" };

export default function AdminUsers() {
  const page = useLoaderData<typeof loader>();
  const location = useLocation();
  const navigation = useNavigation();
  const searching = navigation.state === "loading" && navigation.location.pathname === location.pathname;
  const sortHref = (sort: UserSort, dir: SortDirection) => withParams(location.search, { sort, dir, after: null, before: null });
  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-bold">Users and balances</h1>
      <Form method="get" role="search" className="flex flex-wrap items-end gap-2">
        <div className="grow sm:grow-0">
          <label htmlFor="user-search" className="label">
            Search by email
          </label>
          <input
            id="user-search"
            name="q"
            type="search"
            defaultValue={page.q ?? ""}
            key={page.q ?? ""}
            placeholder="Start of the email, e.g. alice@"
            autoComplete="off"
            aria-describedby="user-search-hint"
            className="input mt-1 sm:w-80"
          />
        </div>
        <div>
          <label htmlFor="user-sort" className="label">
            Sort by
          </label>
          <select id="user-sort" name="sort" defaultValue={page.sort} key={`sort-${page.sort}`} className="input mt-1">
            <option value="created">Sign-up date</option>
            <option value="email">Email</option>
            <option value="credits">Balance</option>
          </select>
        </div>
        <div>
          <label htmlFor="user-dir" className="label">
            Order
          </label>
          <select id="user-dir" name="dir" defaultValue={page.dir} key={`dir-${page.dir}`} className="input mt-1">
            <option value="desc">Descending</option>
            <option value="asc">Ascending</option>
          </select>
        </div>
        <button type="submit" className="btn-primary" disabled={searching}>
          {searching ? "Loading…" : "Search"}
        </button>
        {page.q ? (
          <Link to={`?sort=${page.sort}&dir=${page.dir}`} className="btn-secondary">
            Clear search
          </Link>
        ) : null}
        <p id="user-search-hint" className="w-full text-sm text-slate-700">
          Matches emails that start with what you type.
        </p>
      </Form>
      <div aria-busy={searching} className={searching ? "opacity-60" : undefined}>
        <AdminUserTable
          users={page.users}
          sort={page.sort}
          dir={page.dir}
          sortHref={sortHref}
          caption={`${page.q ? `Users whose email starts with “${page.q}”` : "All users"}, sorted by ${SORT_NAMES[page.sort]} (${page.dir === "asc" ? "ascending" : "descending"}), ${page.users.length} on this page.`}
        />
      </div>
      <Pager
        label="User pages"
        first={page.prev ? withParams(location.search, { after: null, before: null }) : null}
        previous={page.prev ? withParams(location.search, { before: page.prev, after: null }) : null}
        next={page.next ? withParams(location.search, { after: page.next, before: null }) : null}
        firstLabel="First page"
        previousLabel="← Previous"
        nextLabel="Next →"
      />
    </div>
  );
}
