//! Reads in pages, so PostgREST's `max-rows` cap never truncates a result silently.
//!
//! Each page is one request with `limit` and `offset`. A full page means there may be more. A page
//! shorter than asked is either the end of the rows or the server's cap: when the server's `max-rows`
//! is known ([`SupabaseOptions::max_rows`](crate::SupabaseOptions::max_rows)) pages never exceed it, so a
//! short page is the end; otherwise the pager shrinks its page to what came back and asks once more,
//! and only an empty page ends the read.

use dba_core::{Result, Row};

use crate::adapter::{self, Extra, SupabaseAdapter};

/// The state of one paged read; it owns what it needs, so a stream can hold it.
pub(crate) struct Pager {
    adapter: SupabaseAdapter,
    base: postgrest::Builder,
    what: String,
    offset: u64,
    remaining: Option<u64>,
    page: u64,
    trust_short_pages: bool,
    done: bool,
}

impl Pager {
    pub(crate) fn new(
        adapter: SupabaseAdapter,
        base: postgrest::Builder,
        what: String,
        offset: Option<u64>,
        limit: Option<u64>,
    ) -> Pager {
        let (page, trust_short_pages) = adapter.paging();
        Pager {
            adapter,
            base,
            what,
            offset: offset.unwrap_or(0),
            remaining: limit,
            page,
            trust_short_pages,
            done: false,
        }
    }

    /// The next page of rows, or `None` when the read is complete.
    pub(crate) async fn next_page(&mut self) -> Result<Option<Vec<Row>>> {
        if self.done {
            return Ok(None);
        }
        let ask = self.remaining.map_or(self.page, |r| r.min(self.page));
        if ask == 0 {
            self.done = true;
            return Ok(None);
        }
        let mut query = vec![("limit", ask.to_string())];
        if self.offset > 0 {
            query.push(("offset", self.offset.to_string()));
        }
        let response = self
            .adapter
            .send(
                self.base.clone(),
                Extra {
                    query: &query,
                    ..Extra::default()
                },
            )
            .await
            .map_err(|e| e.context(&self.what))?;
        let mut rows = adapter::rows(response, self.adapter.timeout())
            .await
            .map_err(|e| e.context(&self.what))?;
        // A server that ignored `limit` must not make the read return more than was asked for.
        rows.truncate(usize::try_from(ask).unwrap_or(usize::MAX));
        let n = rows.len() as u64;
        self.offset += n;
        if let Some(remaining) = &mut self.remaining {
            *remaining -= n;
        }
        if n == 0 {
            self.done = true;
            return Ok(None);
        }
        if n < ask {
            if self.trust_short_pages {
                self.done = true;
            } else {
                // Either the end or a server cap of `n` rows: the next request tells.
                self.page = n;
            }
        }
        Ok(Some(rows))
    }
}
