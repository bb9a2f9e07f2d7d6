// Article bodies are Markdown written by editors or imported; the HTML it becomes goes into
// pages and feeds, so the renderer is locked down: no raw HTML, no script-capable links.
import MarkdownIt from 'markdown-it'

type Renderer = ReturnType<typeof MarkdownIt>

const UNSAFE_SCHEME = /^\s*(javascript|vbscript|data|file):/i

function createRenderer(): Renderer {
  const md = new MarkdownIt({ html: false, linkify: false, typographer: false })
  // markdown-it already drops javascript: links; data: images must go too.
  md.validateLink = (url: string) => !UNSAFE_SCHEME.test(url.replace(/[\u0000-\u0020]/g, ''))
  return md
}

const renderer = createRenderer()

/** Options for rendering: `baseUrl` turns relative links and image sources absolute (feeds). */
export interface RenderOptions {
  baseUrl?: string
}

function absolutize(tokens: ReturnType<Renderer['parse']>, baseUrl: string): void {
  for (const token of tokens) {
    if (token.children) absolutize(token.children, baseUrl)
    const attr = token.type === 'link_open' ? 'href' : token.type === 'image' ? 'src' : null
    if (!attr) continue
    const value = token.attrGet(attr)
    if (value === null) continue
    try {
      token.attrSet(attr, new URL(String(value), baseUrl).href)
    } catch {
      token.attrSet(attr, baseUrl)
    }
  }
}

/** Renders Markdown to safe HTML. */
export function renderMarkdown(markdown: string, options: RenderOptions = {}): string {
  const env = {}
  const tokens = renderer.parse(markdown, env)
  if (options.baseUrl) absolutize(tokens, options.baseUrl)
  return renderer.renderer.render(tokens, renderer.options, env)
}
