//! The index of which socket is in which room, both ways.

use std::collections::HashMap;

use crate::adapter::{BroadcastOptions, Room};
use crate::sid_hash::{SidMap, SidSet};
use crate::Sid;

/// Rooms to sockets and sockets to rooms. Not synchronized: the adapter wraps it in a lock.
///
/// Every socket is in the room named by its id, as in Node, but that room is implicit: it is
/// answered from the socket table instead of being stored, which saves a set, a key and a
/// vector per connected socket.
///
/// The sockets are a set of their own and only a socket that joined some room has an entry in
/// `joined`: most sockets join none, and a `SidMap<Vec<Room>>` entry for every socket cost
/// 80 bytes each at a typical load factor, where a set entry is about 34.
#[derive(Debug, Default)]
pub struct RoomIndex {
    rooms: HashMap<Room, SidSet>,
    sids: SidSet,
    /// The rooms each socket joined besides its own, in join order; no entry when none.
    joined: SidMap<Vec<Room>>,
}

fn own_room(sid: Sid, room: &str) -> bool {
    sid.as_str() == room
}

impl RoomIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `sid` to each room (idempotent); registers the socket even when `rooms` is empty.
    pub fn add_all(&mut self, sid: Sid, rooms: &[Room]) {
        self.sids.insert(sid);
        for room in rooms {
            if own_room(sid, room) {
                continue;
            }
            let joined = self.joined.entry(sid).or_default();
            if !joined.contains(room) {
                joined.push(room.clone());
            }
            self.rooms.entry(room.clone()).or_default().insert(sid);
        }
    }

    /// Removes `sid` from one room; an empty room disappears. A socket stays in its own room.
    pub fn del(&mut self, sid: Sid, room: &str) {
        if let Some(joined) = self.joined.get_mut(&sid) {
            joined.retain(|r| &**r != room);
            if joined.is_empty() {
                self.joined.remove(&sid);
            }
        }
        self.remove_member(room, sid);
    }

    /// Removes `sid` from every room.
    pub fn del_all(&mut self, sid: Sid) {
        self.sids.remove(&sid);
        for room in self.joined.remove(&sid).unwrap_or_default() {
            self.remove_member(&room, sid);
        }
    }

    fn remove_member(&mut self, room: &str, sid: Sid) {
        if let Some(members) = self.rooms.get_mut(room) {
            members.remove(&sid);
            if members.is_empty() {
                self.rooms.remove(room);
            }
        }
    }

    /// The rooms `sid` is in: its own room first, then the others in join order.
    pub fn rooms_of(&self, sid: Sid) -> Vec<Room> {
        if !self.sids.contains(&sid) {
            return Vec::new();
        }
        std::iter::once(Room::from(sid.as_str()))
            .chain(self.joined.get(&sid).into_iter().flatten().cloned())
            .collect()
    }

    /// Every room with at least one member (each socket's own room included).
    pub fn rooms(&self) -> Vec<Room> {
        self.rooms
            .keys()
            .cloned()
            .chain(self.sids.iter().map(|sid| Room::from(sid.as_str())))
            .collect()
    }

    /// Members of a room.
    pub fn members<'a>(&'a self, room: &'a str) -> impl Iterator<Item = Sid> + 'a {
        let own = Sid::parse(room).filter(|sid| self.sids.contains(sid));
        let explicit = self
            .rooms
            .get(room)
            .into_iter()
            .flatten()
            .copied()
            .filter(move |sid| Some(*sid) != own);
        own.into_iter().chain(explicit)
    }

    /// Whether `sid` is in `room`.
    pub fn contains(&self, room: &str, sid: Sid) -> bool {
        (own_room(sid, room) && self.sids.contains(&sid))
            || self.rooms.get(room).is_some_and(|m| m.contains(&sid))
    }

    /// Number of indexed sockets.
    pub fn socket_count(&self) -> usize {
        self.sids.len()
    }

    /// The sockets a broadcast reaches: the union of `rooms` (every socket when empty), minus
    /// the members of `except`, each once.
    pub fn select(&self, opts: &BroadcastOptions) -> Vec<Sid> {
        let excluded = |sid: &Sid| opts.except.iter().any(|room| self.contains(room, *sid));
        if opts.rooms.is_empty() {
            return self.sids.iter().filter(|s| !excluded(s)).copied().collect();
        }
        if opts.rooms.len() == 1 {
            return self
                .members(&opts.rooms[0])
                .filter(|s| !excluded(s))
                .collect();
        }
        let mut seen = SidSet::default();
        opts.rooms
            .iter()
            .flat_map(|room| self.members(room))
            .filter(|sid| seen.insert(*sid) && !excluded(sid))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(n: u8) -> Sid {
        Sid::from_random([n; 15])
    }

    fn room(name: &str) -> Room {
        Room::from(name)
    }

    #[test]
    fn join_leave_and_cleanup() {
        let mut index = RoomIndex::new();
        let own = |n: u8| Room::from(sid(n).as_str());
        index.add_all(sid(1), &[own(1), room("a"), room("b"), room("a")]);
        index.add_all(sid(2), &[own(2), room("a")]);
        assert_eq!(index.rooms_of(sid(1)), vec![own(1), room("a"), room("b")]);
        index.del(sid(1), "b");
        assert_eq!(index.rooms_of(sid(1)), vec![own(1), room("a")]);
        assert!(!index.rooms().contains(&room("b")));
        assert!(index.rooms().contains(&own(2)));
        // The own room is answered from the socket table.
        assert_eq!(
            index.members(sid(2).as_str()).collect::<Vec<_>>(),
            vec![sid(2)]
        );
        assert!(index.contains(sid(1).as_str(), sid(1)));
        assert!(!index.contains(sid(1).as_str(), sid(2)));
        // Leaving its last explicit room leaves the socket indexed, in its own room only.
        index.del(sid(2), "a");
        assert_eq!(index.rooms_of(sid(2)), vec![own(2)]);
        assert!(!index.joined.contains_key(&sid(2)));
        assert_eq!(index.socket_count(), 2);
        index.del_all(sid(1));
        index.del_all(sid(2));
        assert!(index.rooms().is_empty());
        assert!(index.joined.is_empty());
        assert_eq!(index.socket_count(), 0);
        assert_eq!(index.members(sid(2).as_str()).count(), 0);
    }

    #[test]
    fn select_union_minus_except() {
        let mut index = RoomIndex::new();
        index.add_all(sid(1), &[room("a")]);
        index.add_all(sid(2), &[room("a"), room("b")]);
        // Targeting a socket's own room, and excluding it.
        let only_2 = index.select(&BroadcastOptions {
            rooms: vec![room(sid(2).as_str())],
            ..Default::default()
        });
        assert_eq!(only_2, vec![sid(2)]);
        let a_not_1 = index.select(&BroadcastOptions {
            rooms: vec![room("a")],
            except: vec![room(sid(1).as_str())],
            ..Default::default()
        });
        assert_eq!(a_not_1, vec![sid(2)]);
        index.add_all(sid(3), &[room("b"), room("x")]);
        index.add_all(sid(4), &[room("c")]);
        let opts = |rooms: &[&str], except: &[&str]| BroadcastOptions {
            rooms: rooms.iter().map(|r| room(r)).collect(),
            except: except.iter().map(|r| room(r)).collect(),
            ..Default::default()
        };
        let mut all = index.select(&opts(&[], &[]));
        all.sort();
        assert_eq!(all.len(), 4);
        let mut ab = index.select(&opts(&["a", "b"], &[]));
        ab.sort();
        let mut expected = vec![sid(1), sid(2), sid(3)];
        expected.sort();
        assert_eq!(ab, expected);
        let ab_not_x = index.select(&opts(&["a", "b"], &["x"]));
        assert_eq!(ab_not_x.len(), 2);
        assert!(!ab_not_x.contains(&sid(3)));
        assert!(index.select(&opts(&["nope"], &[])).is_empty());
    }
}
