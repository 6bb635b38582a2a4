<?xml version="1.0" encoding="UTF-8"?>
<!--
  feeds: how an Atom or RSS feed of this site looks when a person opens it in a browser.

  Every Atom and RSS document names this file in an <?xml-stylesheet?> instruction; browsers
  that still run XSLT 1.0 turn the feed into the page below, feed readers ignore it.  Record
  text is hostile: it is only ever copied with xsl:value-of (which escapes it) and never with
  disable-output-escaping; links are only made of http(s) URLs; the page runs no script.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:atom="http://www.w3.org/2005/Atom"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    exclude-result-prefixes="atom dc">

  <xsl:output method="html" encoding="UTF-8" indent="no" doctype-system="about:legacy-compat"/>

  <xsl:variable name="atom" select="/atom:feed"/>
  <xsl:variable name="rss" select="/rss/channel"/>
  <xsl:variable name="title" select="normalize-space($atom/atom:title | $rss/title)"/>
  <xsl:variable name="self"
      select="($atom/atom:link[@rel = 'self'] | $rss/atom:link[@rel = 'self'])[1]/@href"/>
  <xsl:variable name="home"
      select="($atom/atom:link[@rel = 'alternate'] | $rss/atom:link[@rel = 'alternate'])[1]/@href
              | $rss/link"/>
  <xsl:variable name="older"
      select="($atom/atom:link[@rel = 'prev-archive'] | $rss/atom:link[@rel = 'prev-archive'])[1]/@href"/>

  <xsl:template match="/">
    <html>
      <xsl:attribute name="lang">
        <xsl:value-of select="($atom/@xml:lang | $rss/language)[1]"/>
      </xsl:attribute>
      <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <meta name="robots" content="noindex"/>
        <title><xsl:value-of select="$title"/> (web feed)</title>
        <style>
          :root { color-scheme: light dark; --ink: #1d2330; --muted: #5b6474; --line: #d9dde5;
                  --tint: #f3f5f9; --accent: #1f5fbf; }
          @media (prefers-color-scheme: dark) {
            :root { --ink: #e6e9ef; --muted: #a3abba; --line: #343b48; --tint: #1c2130; --accent: #8db7ff; }
          }
          body { margin: 0; font: 17px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
                 color: var(--ink); background: Canvas; }
          main { max-width: 46rem; margin: 0 auto; padding: 2rem 1.25rem 4rem; }
          a { color: var(--accent); }
          .about { background: var(--tint); border: 1px solid var(--line); border-radius: .6rem;
                   padding: 1rem 1.25rem; margin: 0 0 1.5rem; }
          .about h2 { font-size: 1rem; margin: 0 0 .35rem; }
          .about p { margin: .35rem 0; }
          .url { display: block; font: 15px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace;
                 background: Canvas; border: 1px solid var(--line); border-radius: .4rem;
                 padding: .45rem .6rem; overflow-wrap: anywhere; user-select: all; }
          h1 { font-size: 1.9rem; line-height: 1.2; margin: 0 0 .4rem; }
          .description { color: var(--muted); margin: 0 0 1.5rem; }
          ol { list-style: none; padding: 0; margin: 0; }
          li { border-top: 1px solid var(--line); padding: 1.1rem 0; }
          li h3 { font-size: 1.15rem; line-height: 1.35; margin: 0 0 .25rem; }
          li h3 a { text-decoration: none; }
          li h3 a:hover { text-decoration: underline; }
          .meta { color: var(--muted); font-size: .9rem; margin: 0 0 .35rem; }
          .summary { margin: 0; }
          nav { margin-top: 1.5rem; }
        </style>
      </head>
      <body>
        <main>
          <header>
            <h1><xsl:value-of select="$title"/></h1>
            <p class="description">
              <xsl:value-of select="$atom/atom:subtitle | $rss/description"/>
              <xsl:if test="starts-with($home, 'http')">
                <xsl:text> · </xsl:text>
                <a href="{$home}">the web page</a>
              </xsl:if>
            </p>
          </header>
          <section class="about" aria-label="About this page">
            <h2>This is a web feed</h2>
            <p>A feed lets a feed reader follow this site for you: its newest stories arrive
              in the reader as they are published, with no account or e-mail needed.</p>
            <p>To subscribe, copy this address into your feed reader:</p>
            <code class="url"><xsl:value-of select="$self"/></code>
            <p>New to feeds? <a href="https://aboutfeeds.com/">About Feeds</a> explains them
              and names some readers.</p>
          </section>
          <ol>
            <xsl:apply-templates select="$atom/atom:entry | $rss/item"/>
          </ol>
          <xsl:if test="starts-with($older, 'http')">
            <nav><a href="{$older}">Older stories</a></nav>
          </xsl:if>
        </main>
      </body>
    </html>
  </xsl:template>

  <!-- One entry: its title linked, its date and provider, its summary. -->
  <xsl:template match="atom:entry | item">
    <xsl:variable name="link"
        select="(atom:link[@rel = 'alternate'][1]/@href | atom:link[not(@rel)][1]/@href | link)[1]"/>
    <li>
      <h3>
        <xsl:choose>
          <xsl:when test="starts-with($link, 'https://') or starts-with($link, 'http://')">
            <a href="{$link}"><xsl:value-of select="atom:title | title"/></a>
          </xsl:when>
          <xsl:otherwise><xsl:value-of select="atom:title | title"/></xsl:otherwise>
        </xsl:choose>
      </h3>
      <p class="meta">
        <xsl:choose>
          <!-- The day as the pages show it, 01 May 2024 (the feeds' dates are in UTC), from
               Atom's 2024-05-01T10:00:00+00:00 and RSS's Wed, 01 May 2024 10:00:00 +0000. -->
          <xsl:when test="atom:published">
            <time datetime="{atom:published}">
              <xsl:value-of select="concat(substring(atom:published, 9, 2), ' ',
                substring('JanFebMarAprMayJunJulAugSepOctNovDec', 3 * substring(atom:published, 6, 2) - 2, 3),
                ' ', substring(atom:published, 1, 4))"/>
            </time>
          </xsl:when>
          <xsl:otherwise><xsl:value-of select="substring(pubDate, 6, 11)"/></xsl:otherwise>
        </xsl:choose>
        <xsl:if test="atom:author/atom:name | dc:creator">
          <xsl:text> · </xsl:text>
          <xsl:value-of select="atom:author/atom:name | dc:creator"/>
        </xsl:if>
      </p>
      <xsl:choose>
        <xsl:when test="atom:summary">
          <p class="summary"><xsl:value-of select="atom:summary"/></p>
        </xsl:when>
        <xsl:when test="description">
          <!-- RSS <description> is the excerpt as HTML (only &, < and > escaped): shown as text. -->
          <p class="summary">
            <xsl:call-template name="unescape">
              <xsl:with-param name="text" select="description"/>
            </xsl:call-template>
          </p>
        </xsl:when>
      </xsl:choose>
    </li>
  </xsl:template>

  <!-- `text` with &lt; &gt; and &amp; turned back into characters, output as text (so escaped
       again by the serializer): the inverse of the escaping the RSS description was given. -->
  <xsl:template name="unescape">
    <xsl:param name="text"/>
    <xsl:choose>
      <xsl:when test="contains($text, '&amp;')">
        <xsl:value-of select="substring-before($text, '&amp;')"/>
        <xsl:variable name="rest" select="substring-after($text, '&amp;')"/>
        <xsl:choose>
          <xsl:when test="starts-with($rest, 'lt;')">&lt;<xsl:call-template name="unescape">
              <xsl:with-param name="text" select="substring($rest, 4)"/></xsl:call-template></xsl:when>
          <xsl:when test="starts-with($rest, 'gt;')">&gt;<xsl:call-template name="unescape">
              <xsl:with-param name="text" select="substring($rest, 4)"/></xsl:call-template></xsl:when>
          <xsl:when test="starts-with($rest, 'amp;')">&amp;<xsl:call-template name="unescape">
              <xsl:with-param name="text" select="substring($rest, 5)"/></xsl:call-template></xsl:when>
          <xsl:otherwise>&amp;<xsl:call-template name="unescape">
              <xsl:with-param name="text" select="$rest"/></xsl:call-template></xsl:otherwise>
        </xsl:choose>
      </xsl:when>
      <xsl:otherwise><xsl:value-of select="$text"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

</xsl:stylesheet>
