//! A small type map for per-socket and application values.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;

use parking_lot::RwLock;

/// The map behind [`Extensions`].
type Map = HashMap<TypeId, Box<dyn Any + Send + Sync>>;

/// Values keyed by their type. Allocates nothing until the first insert.
#[derive(Default)]
pub struct Extensions {
    /// Boxed: every socket has an `Extensions`, and an empty map inline costs 48 bytes.
    map: RwLock<Option<Box<Map>>>,
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.map.read().as_ref().map_or(0, |m| m.len());
        f.debug_struct("Extensions").field("len", &len).finish()
    }
}

impl Extensions {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts a value, returning the previous one of that type.
    pub fn insert<T: Send + Sync + 'static>(&self, value: T) -> Option<T> {
        self.map
            .write()
            .get_or_insert_with(Box::default)
            .insert(TypeId::of::<T>(), Box::new(value))
            .and_then(|old| old.downcast().ok().map(|b| *b))
    }

    /// A clone of the value of type `T`.
    pub fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.map
            .read()
            .as_ref()?
            .get(&TypeId::of::<T>())?
            .downcast_ref::<T>()
            .cloned()
    }

    /// Removes the value of type `T`.
    pub fn remove<T: Send + Sync + 'static>(&self) -> Option<T> {
        self.map
            .write()
            .as_mut()?
            .remove(&TypeId::of::<T>())
            .and_then(|old| old.downcast().ok().map(|b| *b))
    }

    /// Whether a value of type `T` is present.
    pub fn contains<T: Send + Sync + 'static>(&self) -> bool {
        self.map
            .read()
            .as_ref()
            .is_some_and(|m| m.contains_key(&TypeId::of::<T>()))
    }
}
