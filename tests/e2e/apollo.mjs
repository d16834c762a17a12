// A stock Apollo Client (the @apollo/client package, in Node) reading the gallery with automatic persisted
// queries over GET, as an app would configure it: `PersistedQueryLink` with `useGETForHashedQueries`. Every
// request it makes is recorded, so the test can check the protocol as it happened on the wire.

import { createHash } from 'node:crypto';

import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';

const GALLERY = gql`
  query Gallery($first: Int!) {
    photos(first: $first) {
      nodes {
        id
        name
        url
        commentCount
      }
    }
  }
`;

/** Reads the first `first` photos twice, each time with a new client (an app started afresh). */
export async function galleryWithApollo(base, first) {
  const requests = [];
  const recordingFetch = async (url, init = {}) => {
    const response = await fetch(url, init);
    requests.push({
      method: init.method ?? 'GET',
      hashOnly: !String(url).includes('query=') && !String(init.body ?? '').includes('"query"'),
      status: response.status,
      contentType: response.headers.get('content-type'),
      cacheControl: response.headers.get('cache-control'),
    });
    return response;
  };
  const client = () =>
    new ApolloClient({
      cache: new InMemoryCache(),
      link: new PersistedQueryLink({
        sha256: (text) => createHash('sha256').update(text).digest('hex'),
        useGETForHashedQueries: true,
      }).concat(new HttpLink({ uri: `${base}/graphql`, fetch: recordingFetch })),
    });
  const firstRun = await client().query({ query: GALLERY, variables: { first } });
  const secondRun = await client().query({ query: GALLERY, variables: { first } });
  return { firstRun: firstRun.data.photos.nodes, secondRun: secondRun.data.photos.nodes, requests };
}
