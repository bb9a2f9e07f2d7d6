// Error pages: a real document with the site frame, so a reader can find their way back.
import type { SiteConfig } from '../config'
import { Layout } from './layout'

/** The page for 404, 405, 410 and 500 answers. */
export function ErrorPage({
  site,
  status,
  message,
}: {
  site: SiteConfig
  status: number
  message: string
}) {
  const titles: Record<number, string> = {
    404: 'Page not found',
    405: 'Method not allowed',
    410: 'This story was removed',
    500: 'Something went wrong',
  }
  return (
    <Layout site={site} title={titles[status] ?? `Error ${status}`}>
      <h1>{titles[status] ?? `Error ${status}`}</h1>
      <p>{message}</p>
      <p>
        <a href="/">Back to the latest stories</a>
      </p>
    </Layout>
  )
}
